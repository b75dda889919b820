"""publisher.toml: defaults, and errors that name the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.config import load_config, load_secrets, parse_settings
from publisher.errors import ConfigError
from tests.conftest import REPO, SITE


def test_repo_config_loads_with_the_seed_sites_settings() -> None:
    config = load_config(REPO)
    assert config.site.language == "zh-CN"
    assert config.site.domain == "127.0.0.1"
    assert config.database_url.startswith("sqlite:////")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[site]\ntitle = "x"\nbase_url = "not a url"\n',
         "publisher.toml:3: site.base_url: Value error, must be an absolute http(s) URL"),
        ('[smtp]\nport = 70000\n', "publisher.toml:2: smtp.port: Input should be less than"),
        ('[smtp]\ntls = "maybe"\n', "publisher.toml:2: smtp.tls: Input should be"),
        ('[site]\ntimezone = "Mars/Olympus"\n', "site.timezone: Value error, unknown timezone"),
        ('[sender]\nfrom_adress = "a@b.c"\n', "publisher.toml:2: sender.from_adress: unknown key"),
        ("[site\n", "publisher.toml: invalid TOML"),
    ],
)
def test_broken_config_names_the_key(toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(toml)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[smtp]\nhost = "smtp.example.org"\ntls = "none"\n',
         "publisher.toml:3: smtp.tls: Value error, 'none' is only allowed for a loopback host, "
         "not 'smtp.example.org'; use starttls or implicit"),
        ('[smtp]\nhost = "smtp.example.org"\n',  # tls left at its default, none
         "publisher.toml:1: smtp.tls: Value error, 'none' is only allowed for a loopback host"),
    ],
)
def test_plain_text_smtp_to_a_remote_host_is_refused_when_the_config_loads(
        toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(toml)
    assert message in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_plain_text_smtp_to_loopback_is_allowed(host: str) -> None:
    assert parse_settings(f'[smtp]\nhost = "{host}"\ntls = "none"\n').smtp.host == host


def test_remote_smtp_with_tls_loads() -> None:
    assert parse_settings('[smtp]\nhost = "smtp.example.org"\ntls = "starttls"\n').smtp.tls \
        == "starttls"


def test_a_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path, tmp_path / "nope.toml")


def test_secrets_come_from_the_environment_with_old_keys_after_the_current_one() -> None:
    secrets = load_secrets({"PUBLISHER_SECRET_KEY": "a" * 32,
                            "PUBLISHER_OLD_SECRET_KEYS": "b" * 32 + ", " + "c" * 32})
    assert secrets.secret_keys == ("a" * 32, "b" * 32, "c" * 32)
    assert secrets.signing_key == "a" * 32


def test_the_imap_password_is_a_secret_from_the_environment() -> None:
    assert load_secrets({"PUBLISHER_IMAP_PASSWORD": "hunter2"}).imap_password == "hunter2"
    assert load_secrets({"PUBLISHER_IMAP_PASSWORD": ""}).imap_password is None


def test_a_short_or_missing_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="PUBLISHER_SECRET_KEY: must be at least 16"):
        load_secrets({"PUBLISHER_SECRET_KEY": "short"})
    with pytest.raises(ConfigError, match="PUBLISHER_SECRET_KEY is not set"):
        _ = load_secrets({}).signing_key


def test_the_repo_holds_no_secrets() -> None:
    text = (SITE / "publisher.toml").read_text(encoding="utf-8").lower()
    assert "password =" not in text and "secret_key =" not in text
