"""`publisher init`: a new site with every setting explained, nothing overwritten, and the
package's templates overridden by the site's own file by file."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.clock import utc_now
from publisher.config import Settings, load_config
from publisher.site.build import build_site
from publisher.site.starter import MEANINGS
from publisher.templating import default_templates_dir, template_file
from tests.cli import invoke_publisher


@pytest.fixture
def inside(tmp_path: Path) -> Iterator[Path]:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def test_init_writes_every_setting_with_its_meaning_and_a_site_that_checks(
        inside: Path) -> None:
    made = invoke_publisher("init", "site", "--yes")
    assert made.exit_code == 0, made.output
    text = (inside / "site" / "publisher.toml").read_text(encoding="utf-8")
    tomllib.loads(text)  # valid TOML
    for section, field in Settings.model_fields.items():
        for key in getattr(field.annotation, "model_fields", {}):
            assert f"{key} = " in text.split(f"[{section}]", 1)[1], f"{section}.{key}"
            assert MEANINGS.get(f"{section}.{key}"), f"{section}.{key} has no meaning"
    config = load_config(inside / "site")
    assert config.site.title == "My newsletter"
    os.chdir(inside / "site")
    checked = invoke_publisher("check")
    assert checked.exit_code == 0, checked.output


def test_init_asks_for_the_site_and_uses_the_answers(inside: Path) -> None:
    answers = "LLM 周报\nhttps://digest.example.org\nzh-CN\ndigest@example.org\nAsia/Shanghai\n"
    made = invoke_publisher("init", "mine", stdin=answers)
    assert made.exit_code == 0, made.output
    config = load_config(inside / "mine")
    assert (config.site.title, config.site.base_url, config.site.language) == (
        "LLM 周报", "https://digest.example.org", "zh-CN")
    assert config.settings.sender.from_address == "digest@example.org"
    nginx = (inside / "mine" / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    assert "server_name digest.example.org;" in nginx and "deny all;" in nginx


def test_init_never_overwrites_and_writes_nothing_when_a_file_exists(inside: Path) -> None:
    (inside / "site").mkdir()
    (inside / "site" / ".gitignore").write_text("mine\n", encoding="utf-8")
    refused = invoke_publisher("init", "site", "--yes")
    assert refused.exit_code == 1 and "already exists" in refused.output
    assert (inside / "site" / ".gitignore").read_text(encoding="utf-8") == "mine\n"
    assert sorted(p.name for p in (inside / "site").iterdir()) == [".gitignore"]


def test_a_sites_template_overrides_the_packaged_one_file_by_file(inside: Path) -> None:
    assert invoke_publisher("init", "site", "--yes").exit_code == 0
    site = inside / "site"
    own = site / "templates" / "archive" / "style.css"
    own.parent.mkdir(parents=True)
    own.write_text("body { color: rebeccapurple; }\n", encoding="utf-8")
    config = load_config(site)
    assert template_file(config.templates_dir, "archive/style.css") == own
    assert template_file(config.templates_dir, "email.mjml.j2").is_relative_to(
        default_templates_dir())
    build_site(config, utc_now())
    styles = [p.read_text(encoding="utf-8") for p in (site / "public").rglob("*.css")]
    assert any("rebeccapurple" in css for css in styles)
    assert any((site / "public" / "issues").rglob("email.html"))  # the packaged email template
