"""`publisher check --deliverability` passes a well-configured site and names what is wrong."""

from __future__ import annotations

import os
from pathlib import Path

from publisher.mail.dkim_signing import generate, write_key
from tests.cli import invoke_publisher
from tests.conftest import REPO

CONFIG = """
[site]
title = "Digest"
base_url = "{base}"
[sender]
from_address = "digest@{from_domain}"
[dkim]
selector = "pub2024"
domain = "example.org"
key_path = "{key}"
[paths]
issues = "{repo}/tests/data/site/issues"
templates = "{repo}/templates"
output = "{tmp}/public"
"""


def run(tmp_path: Path, base: str, from_domain: str) -> tuple[int, str]:
    key = tmp_path / "rsa.pem"
    if not key.exists():
        write_key(generate("rsa", 2048), key)
    config = tmp_path / "publisher.toml"
    config.write_text(CONFIG.format(base=base, from_domain=from_domain, key=key, repo=REPO,
                                    tmp=tmp_path), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    result = invoke_publisher("check", "--deliverability", config=config, env=env)
    return result.exit_code, result.output


def test_a_signed_aligned_https_site_passes(tmp_path: Path) -> None:
    code, output = run(tmp_path, "https://digest.example.org", "news.example.org")
    assert code == 0, output
    assert "rsa-sha256 key for pub2024._domainkey.example.org" in output
    assert "text part: 100%" in output


def test_misalignment_and_plain_http_are_named(tmp_path: Path) -> None:
    code, output = run(tmp_path, "http://digest.example.org", "other.example.com")
    assert code != 0
    assert "fail alignment: From domain other.example.com vs DKIM d=example.org" in output
    assert "fail https-unsubscribe" in output
