"""`publisher check --deliverability` names a missing key file by its line in publisher.toml,
and prints the whole DKIM record in DNS strings a zone file accepts."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from publisher.commands.context import Context
from publisher.commands.dkim import dkim_group
from publisher.config import load_config
from publisher.mail.dkim_signing import generate, write_key
from tests.cli import run_publisher
from tests.conftest import REPO

CONFIG = """\
[site]
title = "Digest"
base_url = "https://digest.example.org"

[sender]
from_address = "digest@example.org"

[dkim]
selector = "pub2024"
domain = "example.org"
key_path = "{rsa}"
ed25519_key_path = "{ed25519}"
ed25519_selector = "pub2024ed"

[paths]
issues = "{repo}/tests/data/site/issues"
templates = "{repo}/templates"
output = "public"
"""


def write_config(root: Path, rsa: str, ed25519: str) -> Path:
    config = root / "publisher.toml"
    config.write_text(CONFIG.format(rsa=rsa, ed25519=ed25519, repo=REPO), encoding="utf-8")
    return config


def check(config: Path) -> subprocess.CompletedProcess[str]:
    """The real command in its own process, as an author runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    return run_publisher(config, "check", "--deliverability", env=env, cwd=config.parent,
                         timeout=120)


def line_of(config: Path, key: str) -> int:
    lines = config.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if line.startswith(f"{key} ="))


def expected_record(key: object) -> str:
    """The record's value computed here, independently of publisher."""
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()


def published_records(output: str) -> dict[str, list[str]]:
    """Zone-file lines printed after `publish:`, as owner name -> the record's strings."""
    found = {}
    for match in re.finditer(r"publish: (\S+) IN TXT \( ((?:\"[^\"]*\" ?)+)\)", output):
        found[match.group(1)] = re.findall(r"\"([^\"]*)\"", match.group(2))
    return found


@pytest.mark.parametrize("missing", ["key_path", "ed25519_key_path"])
def test_a_missing_dkim_key_file_is_named_at_its_line_not_a_traceback(
    tmp_path: Path, missing: str
) -> None:
    write_key(generate("rsa", 2048), tmp_path / "keys" / "rsa.pem")
    write_key(generate("ed25519"), tmp_path / "keys" / "ed.pem")
    names = {"key_path": "keys/rsa.pem", "ed25519_key_path": "keys/ed.pem"}
    names[missing] = "keys/nowhere.pem"
    config = write_config(tmp_path, names["key_path"], names["ed25519_key_path"])
    result = check(config)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{config}:{line_of(config, missing)}: dkim.{missing}: does not exist" \
        in result.stderr, result.stderr


def test_the_whole_dkim_record_is_printed_in_dns_strings_of_at_most_255(tmp_path: Path) -> None:
    rsa, ed25519 = generate("rsa", 2048), generate("ed25519")
    write_key(rsa, tmp_path / "keys" / "rsa.pem")
    write_key(ed25519, tmp_path / "keys" / "ed.pem")
    result = check(write_config(tmp_path, "keys/rsa.pem", "keys/ed.pem"))
    assert result.returncode == 0, result.stderr
    records = published_records(result.stderr)
    assert set(records) == {"pub2024._domainkey.example.org.",
                            "pub2024ed._domainkey.example.org."}
    rsa_strings = records["pub2024._domainkey.example.org."]
    assert len(rsa_strings) >= 2 and all(len(s) <= 255 for s in rsa_strings)
    assert "".join(rsa_strings) == expected_record(rsa)
    assert "".join(records["pub2024ed._domainkey.example.org."]) == expected_record(ed25519)
    assert "…" not in result.stderr


def test_keygen_prints_the_same_zone_file_record(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    out = tmp_path / "keys"
    result = CliRunner().invoke(dkim_group, ["keygen", "--selector", "s1", "--domain",
                                             "example.org", "--out", str(out)], obj=Context(config))
    assert result.exit_code == 0, result.output
    key = serialization.load_pem_private_key((out / "s1.example.org.rsa.pem").read_bytes(),
                                             password=None)
    line = result.output.splitlines()[-1]
    assert line.startswith("s1._domainkey.example.org. IN TXT ( ")
    strings = re.findall(r"\"([^\"]*)\"", line)
    assert all(len(s) <= 255 for s in strings)
    assert "".join(strings) == expected_record(key)
