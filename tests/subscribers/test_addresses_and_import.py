"""Hostile and malformed input: addresses, names, CSV rows, tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy.engine import Engine

from publisher.errors import BadToken, InvalidAddress
from publisher.subscribers.addresses import normalise_address, normalise_name
from publisher.subscribers.csv_files import export_csv, import_csv
from publisher.tokens import Purpose, TokenSigner
from tests.cli import invoke_publisher
from tests.conftest import DATA, SITE

T0 = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize("raw", [
    "no-at-sign", "a@b", "two@@example.org", "x@example.org\r\nBcc: y@example.org",
    "x@example.org\n", "x\x00@example.org", "a" * 250 + "@example.org", "用户@example.org",
    "x@exa mple.org", "<x@example.org>", "x@example.org, y@example.org", "\u202ex@example.org",
    "", "   ",
])
def test_hostile_or_malformed_addresses_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidAddress, match="^email: "):
        normalise_address(raw)


@pytest.mark.parametrize("raw", [
    "Evil\r\nBcc: x@example.org", "Name\x00", "x" * 101, "Рaypal", "visit https://spam.example",
    "name@example.org", "Zero\u200bWidth",
])
def test_hostile_display_names_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidAddress, match="^name: "):
        normalise_name(raw)


@pytest.mark.parametrize("raw", ["张三", "Ada Lovelace", "José García", "山田 Taro", "  spaced  "])
def test_real_names_pass(raw: str) -> None:
    assert normalise_name(raw) == " ".join(raw.split())


def test_csv_import_lands_good_rows_and_reports_bad_ones_by_line(engine: Engine) -> None:
    with (DATA / "subscribers" / "mixed.csv").open(encoding="utf-8", newline="") as stream:
        report = import_csv(engine, stream, "confirmed", T0)
    assert (report.added, report.updated) == (3, 1)
    lines = {line: reason for line, reason in report.rejected}
    assert set(lines) == {3, 5, 8, 9, 10}
    assert "must have an @-sign" in lines[3] and "control" in lines[5]
    assert lines[8] == "email: an address is required"
    assert "link" in lines[9] and "mixes alphabets" in lines[10]
    with (DATA / "subscribers" / "mixed.csv").open(encoding="utf-8", newline="") as stream:
        again = import_csv(engine, stream, "confirmed", T0)
    assert (again.added, again.updated) == (0, 4)  # idempotent


def test_export_includes_status_and_consent(engine: Engine, tmp_path: Path) -> None:
    with (DATA / "subscribers" / "mixed.csv").open(encoding="utf-8", newline="") as stream:
        import_csv(engine, stream, "pending", T0, source="import:mixed.csv")
    out = tmp_path / "export.csv"
    with out.open("w", encoding="utf-8", newline="") as stream:
        assert export_csv(engine, stream) == 3
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("email,name,status,tags,created_at")
    assert "good.two@example.org,张三,pending,\"llm,weekly\"" in text
    assert "import:mixed.csv" in text


def test_cli_import_prints_each_rejected_row_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "publisher.toml"
    config.write_text(
        (SITE / "publisher.toml").read_text(encoding="utf-8").replace(
            'url = "sqlite:///var/publisher.db"', f'url = "sqlite:///{tmp_path / "x.db"}"'),
        encoding="utf-8")
    csv_path = DATA / "subscribers" / "mixed.csv"
    result = invoke_publisher("subscribers", "import", str(csv_path), "--confirmed", config=config)
    assert result.exit_code == 1
    assert f"{csv_path}:3: email:" in result.output
    assert "added 3, updated 1, rejected 5" in result.output
    stats = invoke_publisher("subscribers", "stats", config=config)
    assert "confirmed" in stats.output and "3" in stats.output


def _tampered_signature(token: str) -> str:
    """The token with its signature's first character changed. (Not the last ones: base64's
    last character carries unused bits, so changing it may leave the same signature bytes.)"""
    signed, signature = token.rsplit(".", 1)
    return f"{signed}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def test_tokens_reject_tampering_other_purposes_and_expiry() -> None:
    signer = TokenSigner(("current-secret-key-123456", "older-secret-key-1234567"))
    token = signer.sign(Purpose.CONFIRM, {"id": 1, "email": "a@example.org"})
    assert signer.verify(Purpose.CONFIRM, token)["id"] == 1
    for bad in (_tampered_signature(token), token + "a", "", "a" * 600, token.replace(".", "")):
        with pytest.raises(BadToken):
            signer.verify(Purpose.CONFIRM, bad)
    with pytest.raises(BadToken):
        signer.verify(Purpose.UNSUBSCRIBE, token)
    with pytest.raises(BadToken):
        signer.verify(Purpose.CONFIRM, token, max_age=timedelta(seconds=-1))


def test_a_token_signed_with_a_retired_key_still_verifies_after_rotation() -> None:
    old = TokenSigner(("older-secret-key-1234567",)).sign(Purpose.UNSUBSCRIBE, {"id": 9})
    rotated = TokenSigner(("current-secret-key-123456", "older-secret-key-1234567"))
    assert rotated.verify(Purpose.UNSUBSCRIBE, old) == {"id": 9}
    with pytest.raises(BadToken):
        TokenSigner(("current-secret-key-123456",)).verify(Purpose.UNSUBSCRIBE, old)


def test_untimed_tokens_are_byte_for_byte_what_itsdangerous_writes() -> None:
    keys = ("current-secret-key-123456", "older-secret-key-1234567")
    signer = TokenSigner(keys)
    payloads: list[object] = [{"id": n} for n in (0, 1, 9, 10**6, 2**62)]
    payloads += [{"id": 5, "note": "读者 " * 40}, ["a" * 300], None]  # the repetitive ones compress
    for purpose in (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES, Purpose.BOUNCE):
        reference = URLSafeSerializer(list(reversed(keys)), salt=purpose.value)
        for payload in payloads:
            token = signer.sign(purpose, payload)
            assert token == reference.dumps(payload)
            assert signer.verify(purpose, token) == payload
