"""Imports and exports as people really make them: spreadsheets in other encodings and
separators, lists moved from one install to another, and lists holding people who left."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.content.audience_expressions import parse
from publisher.db import open_database, subscriber_table
from publisher.subscribers import audience_sql, store
from publisher.subscribers.addresses import normalise_address
from publisher.subscribers.csv_files import import_csv, neutralise, open_csv
from tests.conftest import DATA
from tests.subscribers.helpers import cli, site_config, url_of

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
LEFT_ALONE = "not changed (they must subscribe again themselves)"


def rows_by_email(engine: Engine) -> dict[str, sa.Row[tuple[object, ...]]]:
    return {str(row.email): row for row in store.iter_all(engine)}


def listed(config: Path) -> dict[str, tuple[str, str]]:
    """`subscribers list` as {email: (name, status)}."""
    done = cli(config, "list")
    assert done.returncode == 0, done.stderr
    return {email: (name, status) for email, name, status in
            (line.split("\t") for line in done.stdout.splitlines())}


def people_who_left(config: Path) -> Engine:
    """left@ unsubscribed (through the CLI), bounced@ bounced, angry@ complained."""
    for email in ("left@example.org", "bounced@example.org", "angry@example.org"):
        assert cli(config, "add", email, "--confirmed").returncode == 0
    assert cli(config, "remove", "left@example.org").returncode == 0
    engine = open_database(url_of(config))
    with engine.begin() as conn:
        for email, mark in (("bounced@example.org", store.mark_bounced),
                            ("angry@example.org", store.mark_complained)):
            found = store.find(conn, normalise_address(email))
            assert found is not None
            mark(conn, found.id, T0, {"test": True})
    return engine


def day(value: object) -> str:
    assert isinstance(value, datetime)
    return f"{value:%Y-%m-%d}"


# (16) an import or an add never undoes an opt-out, a bounce or a complaint

def test_cli_import_never_resubscribes_people_who_left_and_reports_each_by_line(
    tmp_path: Path,
) -> None:
    config = site_config(tmp_path / "site")
    engine = people_who_left(config)
    before = rows_by_email(engine)
    history = {email: _events(engine, email) for email in before}
    listing = tmp_path / "list.csv"
    listing.write_text("email,name\nleft@example.org,Left\nBOUNCED@example.org,Bounced\n"
                       "angry@example.org,Angry\nnew@example.org,New\n", encoding="utf-8")
    for flags, summary in ((["--confirmed"], "added 1, updated 0, rejected 0, skipped 3"),
                           ([], "added 0, updated 1, rejected 0, skipped 3")):
        done = cli(config, "import", str(listing), *flags)
        assert done.returncode == 0, done.stderr
        assert done.stderr.splitlines() == [
            f"{listing}:2: email: unsubscribed on "
            f"{day(before['left@example.org'].unsubscribed_at)}; {LEFT_ALONE}",
            f"{listing}:3: email: bounced on 2024-06-01; {LEFT_ALONE}",
            f"{listing}:4: email: complained on 2024-06-01; {LEFT_ALONE}"]
        assert summary in done.stdout
    assert {email: status for email, (_, status) in listed(config).items()} == {
        "left@example.org": "unsubscribed", "bounced@example.org": "bounced",
        "angry@example.org": "complained", "new@example.org": "confirmed"}
    assert {email: _events(engine, email) for email in before} == history
    after = rows_by_email(engine)
    assert [after[e].consent_source for e in before] == [before[e].consent_source
                                                         for e in before]


def test_cli_add_confirmed_refuses_to_resubscribe_someone_who_unsubscribed(
    tmp_path: Path,
) -> None:
    config = site_config(tmp_path / "site")
    engine = people_who_left(config)
    left = rows_by_email(engine)["left@example.org"]
    for flags in (["--confirmed"], []):
        done = cli(config, "add", "Left@example.org", "--name", "Back Again", *flags)
        assert done.returncode == 1
        assert done.stderr.strip() == (f"Error: left@example.org: unsubscribed on "
                                       f"{day(left.unsubscribed_at)}; {LEFT_ALONE}")
    assert listed(config)["left@example.org"] == ("", "unsubscribed")
    assert _events(engine, "left@example.org") == [("created", None, "confirmed"),
                                                   ("unsubscribed", "confirmed", "unsubscribed")]


def test_an_export_file_restores_new_rows_and_never_moves_existing_ones_past_an_opt_out(
    engine: Engine,
) -> None:
    with engine.begin() as conn:  # kept@ left this install; left@ is a reader here
        kept, _ = store.add(conn, "kept@example.org", "", store.CONFIRMED,
                                  store.Consent("form", T0), T0)
        store.unsubscribe(conn, kept.id, T0)
        store.add(conn, "left@example.org", "", store.CONFIRMED,
                        store.Consent("form", T0), T0)
    with open_csv(DATA / "subscribers" / "export.csv") as stream:
        report = import_csv(engine, stream, store.CONFIRMED, T0, "import:export.csv")
    assert (report.added, report.updated, report.rejected) == (3, 1, [])
    assert report.skipped == [(2, f"email: unsubscribed on 2024-06-01; {LEFT_ALONE}")]
    rows = rows_by_email(engine)
    assert {email: row.status for email, row in rows.items()} == {
        "kept@example.org": "unsubscribed", "left@example.org": "confirmed",
        "waiting@example.org": "pending", "gone@example.org": "bounced",
        "angry@example.org": "complained"}
    waiting, gone, angry = (rows[f"{n}@example.org"] for n in ("waiting", "gone", "angry"))
    assert (waiting.consent_at, waiting.consent_source, waiting.consent_ip,
            waiting.consent_user_agent) == (datetime(2023, 3, 1, tzinfo=UTC), "form",
                                            "192.0.2.3", "curl/8.5")
    assert (gone.bounce_count, gone.bounced_at, gone.consent_source) == (
        3, datetime(2023, 6, 1, tzinfo=UTC), "import:old.csv")
    assert (angry.complained_at, angry.created_at, angry.tags) == (
        datetime(2023, 7, 1, 12, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC), ["llm"])
    assert _events(engine, "gone@example.org") == [("created", None, "bounced")]


def test_an_exported_confirmed_row_comes_back_pending_without_confirmed(engine: Engine) -> None:
    with open_csv(DATA / "subscribers" / "export.csv") as stream:
        import_csv(engine, stream, store.PENDING, T0, "import:export.csv")
    kept = rows_by_email(engine)["kept@example.org"]
    assert (kept.status, kept.confirmed_at) == ("pending", None)
    assert rows_by_email(engine)["left@example.org"].status == "unsubscribed"


def test_cli_export_then_import_confirmed_elsewhere_restores_every_status_and_consent(
    tmp_path: Path,
) -> None:
    old, new = site_config(tmp_path / "old"), site_config(tmp_path / "new")
    people_who_left(old)
    assert cli(old, "add", "reader@example.org", "--name", "读者", "--tag", "weekly",
               "--confirmed").returncode == 0
    assert cli(old, "add", "maybe@example.org").returncode == 0
    exported = cli(old, "export")
    assert exported.returncode == 0, exported.stderr
    moved = tmp_path / "moved.csv"
    moved.write_text(exported.stdout, encoding="utf-8")
    done = cli(new, "import", str(moved), "--confirmed")
    assert done.returncode == 0 and done.stderr == ""
    assert "added 5, updated 0, rejected 0, skipped 0" in done.stdout
    assert cli(new, "export").stdout == exported.stdout  # statuses, times and consent intact
    again = cli(old, "import", str(moved), "--confirmed")  # into the install it came from
    assert "added 0, updated 2, rejected 0, skipped 3" in again.stdout
    assert [line.split(": ", 1)[0] for line in again.stderr.splitlines()] == [
        f"{moved}:2", f"{moved}:3", f"{moved}:4"]
    assert cli(old, "export").stdout.splitlines()[1:] == exported.stdout.splitlines()[1:]


# (5) spreadsheet formula injection

@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1 555", "-2+3", "@SUM(A1:A9)",
                                  "\t=1+1", "\r=1+1"])
def test_every_cell_a_spreadsheet_would_run_as_a_formula_gets_a_leading_quote(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["Ada Lovelace", "1-2", "a=b", "", "读者", "'quoted"])
def test_ordinary_cells_are_exported_as_they_are(cell: str) -> None:
    assert neutralise(cell) == cell


def test_cli_export_neutralises_a_formula_name_and_user_agent(tmp_path: Path) -> None:
    config = site_config(tmp_path / "site")
    assert cli(config, "add", "x@example.org", "--name", "=cmd|' /C calc'!A0").returncode == 0
    engine = open_database(url_of(config))
    with engine.begin() as conn:
        store.add(conn, "y@example.org", "-2+3", store.PENDING,
                        store.Consent("form", T0, "192.0.2.9",
                                            '=HYPERLINK("http://evil.example","x")'), T0)
    done = cli(config, "export")
    rows = {row["email"]: row for row in csv.DictReader(io.StringIO(done.stdout))}
    assert rows["x@example.org"]["name"] == "'=cmd|' /C calc'!A0"
    assert rows["y@example.org"]["name"] == "'-2+3"
    assert rows["y@example.org"]["consent_user_agent"] == (
        '\'=HYPERLINK("http://evil.example","x")')


# (17) files as spreadsheets save them

def test_a_gbk_file_reports_each_undecodable_row_by_line_and_lands_the_rest(
    tmp_path: Path,
) -> None:
    config, path = site_config(tmp_path / "site"), DATA / "subscribers" / "gbk.csv"
    done = cli(config, "import", str(path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"{path}:2: not UTF-8 (name: bytes cd f5 c3 f7); save it as UTF-8 or pass "
        "--encoding gbk",
        f"{path}:4: not UTF-8 (name: bytes c0 ee cb c4); save it as UTF-8 or pass "
        "--encoding gbk"]
    assert "added 1, updated 0, rejected 2, skipped 0" in done.stdout
    assert list(listed(config)) == ["ascii.reader@example.cn"]


def test_a_gbk_file_imports_whole_with_encoding_gbk(tmp_path: Path) -> None:
    config = site_config(tmp_path / "site")
    done = cli(config, "import", str(DATA / "subscribers" / "gbk.csv"), "--encoding", "gbk")
    assert done.returncode == 0 and done.stderr == ""
    assert "added 3, updated 0, rejected 0, skipped 0" in done.stdout
    assert listed(config) == {"wang@example.cn": ("王小明", "pending"),
                              "ascii.reader@example.cn": ("Ascii Reader", "pending"),
                              "li@example.cn": ("李四", "pending")}


def test_a_latin1_file_is_reported_by_line_then_imports_with_its_encoding(
    tmp_path: Path,
) -> None:
    config, path = site_config(tmp_path / "site"), DATA / "subscribers" / "latin1.csv"
    done = cli(config, "import", str(path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"{path}:2: not UTF-8 (name: bytes e9 ed); save it as UTF-8 or pass --encoding cp1252",
        f"{path}:4: not UTF-8 (name: bytes fc fc); save it as UTF-8 or pass --encoding cp1252"]
    assert "added 1, updated 0, rejected 2, skipped 0" in done.stdout
    again = cli(config, "import", str(path), "--encoding", "latin-1")
    assert again.returncode == 0 and "added 2, updated 1, rejected 0" in again.stdout
    assert listed(config)["jose@example.es"] == ("José García", "pending")
    assert listed(config)["mueller@example.de"] == ("Jürgen Müller", "pending")


def test_a_semicolon_separated_file_from_excel_imports(tmp_path: Path) -> None:
    config, path = site_config(tmp_path / "site"), DATA / "subscribers" / "semicolon.csv"
    done = cli(config, "import", str(path))
    assert done.returncode == 1  # line 3's address holds a semicolon
    assert done.stderr.startswith(f"{path}:3: email: ")
    assert "added 2, updated 0, rejected 1, skipped 0" in done.stdout
    assert listed(config) == {"amelie@example.fr": ("Amélie Poulain", "pending"),
                              "zoe@example.fr": ("Zoë; the second", "pending")}
    engine = open_database(url_of(config))
    assert rows_by_email(engine)["amelie@example.fr"].tags == ["llm", "weekly"]


def test_a_tab_separated_file_imports(tmp_path: Path) -> None:
    config, path = site_config(tmp_path / "site"), tmp_path / "list.tsv"
    path.write_text("email\tname\ttags\ntab@example.org\tTab, Reader\tweekly\n",
                    encoding="utf-8")
    done = cli(config, "import", str(path))
    assert done.returncode == 0, done.stderr
    assert listed(config) == {"tab@example.org": ("Tab, Reader", "pending")}


def test_an_unknown_encoding_is_one_clear_line(tmp_path: Path) -> None:
    config = site_config(tmp_path / "site")
    done = cli(config, "import", str(DATA / "subscribers" / "gbk.csv"), "--encoding", "klingon")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'klingon' is not an encoding Python knows" in done.stderr


def test_a_header_without_an_email_column_names_the_file(tmp_path: Path) -> None:
    config, path = site_config(tmp_path / "site"), tmp_path / "list.csv"
    path.write_text("mail;name\nx@example.org;X\n", encoding="utf-8")
    done = cli(config, "import", str(path))
    assert done.returncode == 1
    assert done.stderr.strip() == (f"Error: {path}:1: a header row with an 'email' column "
                                   "is required")


def _events(engine: Engine, email: str) -> list[tuple[str, str | None, str | None]]:
    with engine.connect() as conn:
        found = conn.execute(sa.select(subscriber_table.c.id).where(
            subscriber_table.c.email_key == normalise_address(email).key)).scalar_one()
        return store.events(conn, int(found))


def test_tags_separated_by_spaces_are_separate_tags_and_unnameable_ones_refuse_the_row(
    tmp_path: Path,
) -> None:
    config, path = site_config(tmp_path / "site"), DATA / "subscribers" / "tags.csv"
    done = cli(config, "import", str(path), "--confirmed")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{path}:4: tags: '(beta)': a tag is one word without spaces or parentheses, "
        "and not and/or/not",
        f"{path}:5: tags: 'not': a tag is one word without spaces or parentheses, "
        "and not and/or/not"]
    assert "added 3, updated 0, rejected 2, skipped 0" in done.stdout
    engine = open_database(url_of(config))
    tags = {email: row.tags for email, row in rows_by_email(engine).items()}
    assert tags == {"spaced@example.org": ["llm", "weekly-off"],
                    "mixed@example.org": ["agents", "llm", "weekly-off"],
                    "plain@example.org": []}
    assert audience_sql.count(engine, parse("llm")) == 2
    assert audience_sql.count(engine, parse("not llm")) == 1  # plain only
    assert audience_sql.count(engine, parse("llm and not weekly-off")) == 0


def test_cli_add_refuses_a_tag_with_a_space_and_stores_nobody(tmp_path: Path) -> None:
    config = site_config(tmp_path / "site")
    done = cli(config, "add", "spaced@example.org", "--tag", "llm weekly-off", "--confirmed")
    assert done.returncode == 1
    assert done.stderr.strip() == ("Error: tag: 'llm weekly-off': a tag is one word without "
                                   "spaces or parentheses, and not and/or/not")
    assert listed(config) == {}
    assert cli(config, "add", "two@example.org", "--tag", "llm", "--tag", "weekly-off",
               "--confirmed").returncode == 0
    assert rows_by_email(open_database(url_of(config)))["two@example.org"].tags == [
        "llm", "weekly-off"]
