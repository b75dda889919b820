"""A reader's language (issue 27): stored on the subscriber (migration 12, NULL: the site's),
set by `subscribers add --language`, by a `language` column in `subscribers import` and in
another tool's export, written by the export, and refused, with its field and line, when the
site does not publish in it."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from publisher.errors import PublisherError, StoreError
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from publisher.subscribers.csv_files import export_csv, import_csv
from publisher.subscribers.languages import best_language, own_name, reader_language
from publisher.subscribers.tool_formats import LISTMONK, recognise
from tests.cli import run_publisher_here
from tests.subscribers.helpers import ENV, cli, site_config

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
SITE = ("zh-CN", "en")


def two_language_site(folder: Path) -> Path:
    """The seed site's publisher.toml, publishing in zh-CN (its language) and en."""
    config = site_config(folder)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('language = "zh-CN"',
                                   'language = "zh-CN"\nlanguages = ["zh-CN", "en"]', 1),
                      encoding="utf-8")
    return config


def test_a_tag_is_read_as_the_site_spells_it_and_an_empty_one_is_the_sites() -> None:
    assert reader_language("en", SITE) == "en"
    assert reader_language(" zh_cn ", SITE) == "zh-CN"
    assert reader_language("", SITE) is None
    assert reader_language(None, SITE) is None


def test_a_tag_the_site_does_not_publish_in_is_refused_naming_the_field() -> None:
    with pytest.raises(PublisherError) as raised:
        reader_language("fr", SITE)
    assert raised.value.message == ("language: 'fr' is not one of the site's languages "
                                    "(zh-CN, en)")


@pytest.mark.parametrize(("header", "expected"), [
    ("en-GB,en;q=0.9,zh;q=0.5", "en"),
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
    ("zh-TW,zh;q=0.9", "zh-CN"),
    ("fr-FR,fr;q=0.9,en;q=0.3", "en"),
    ("de;q=1,en;q=0", "zh-CN"),
    ("en;q=0.2,zh-CN;q=0.8", "zh-CN"),
    ("*", "zh-CN"),
    ("", "zh-CN"),
    (None, "zh-CN"),
])
def test_accept_language_picks_the_best_of_the_sites_languages(header: str | None,
                                                               expected: str) -> None:
    assert best_language(header, SITE, "zh-CN") == expected


def test_each_language_is_named_in_itself() -> None:
    assert own_name("en") == "English"
    assert own_name("zh-CN").startswith("中文")
    assert own_name("qq-ZZ") == "qq-ZZ"


def test_the_store_keeps_a_language_and_logs_each_change(engine: Engine) -> None:
    with engine.begin() as conn:
        alice, _ = store.add(conn, "alice@example.org", "", store.CONFIRMED,
                             store.Consent("cli", T0), T0, language="en")
        assert alice.language == "en"
        assert store.set_language(conn, alice.id, "en", T0) == alice  # unchanged: no event
        cleared = store.set_language(conn, alice.id, None, T0)
        assert cleared is not None and cleared.language is None
        assert [e for e, _, _ in store.events(conn, alice.id)].count("language_changed") == 2
        bob, _ = store.add(conn, "bob@example.org", "", store.PENDING,
                           store.Consent("cli", T0), T0)
        assert bob.language is None
        with pytest.raises(StoreError, match="language: 'english!' is not a BCP 47"):
            store.set_language(conn, bob.id, "english!", T0)


def test_import_reads_the_language_column_and_refuses_an_unknown_tag_by_line(
        engine: Engine) -> None:
    rows = ("email,name,language\n"
            "alice@example.org,Alice,en\n"
            "bob@example.org,Bob,\n"
            "carol@example.org,Carol,fr\n"
            "dan@example.org,Dan,zh-cn\n")
    report = import_csv(engine, io.StringIO(rows), store.CONFIRMED, T0, languages=SITE)
    assert report.added == 3
    assert report.rejected == [(4, "language: 'fr' is not one of the site's languages "
                                   "(zh-CN, en)")]
    with engine.connect() as conn:
        spoken = {address: found.language for address in
                  ("alice@example.org", "bob@example.org", "dan@example.org")
                  if (found := store.find(conn, normalise_address(address)))}
    assert spoken == {"alice@example.org": "en", "bob@example.org": None,
                      "dan@example.org": "zh-CN"}


def test_the_export_writes_the_language_and_imports_back(engine: Engine) -> None:
    import_csv(engine, io.StringIO("email,language\nalice@example.org,en\nbob@example.org,\n"),
               store.CONFIRMED, T0, languages=SITE)
    out = io.StringIO()
    export_csv(engine, out)
    exported = {row["email"]: row["language"] for row in csv.DictReader(io.StringIO(
        out.getvalue()))}
    assert exported == {"alice@example.org": "en", "bob@example.org": ""}


def test_listmonk_attributes_and_a_locale_column_give_the_language() -> None:
    header = ["email", "name", "attributes"]
    found = recognise("listmonk.csv", header)
    assert found is not None and found.format is LISTMONK
    row = {"email": "alice@example.org", "name": "Alice",
           "attributes": json.dumps({"language": "en", "tags": ["llm"]})}
    assert LISTMONK.read(2, row, "").language == "en"
    ghost = recognise("members.csv", ["email", "name", "subscribed_to_emails", "locale"])
    assert ghost is not None
    read = ghost.format.read(2, {"email": "bob@example.org", "name": "",
                                 "subscribed_to_emails": "true", "locale": "zh_CN"}, "")
    assert read.language == "zh_CN"  # as written: the importer checks it against the site's


def test_subscribers_add_sets_the_language_and_refuses_one_the_site_lacks(
        tmp_path: Path) -> None:
    config = two_language_site(tmp_path)
    added = cli(config, "add", "alice@example.org", "--confirmed", "--language", "EN")
    assert added.returncode == 0, added.stderr
    refused = cli(config, "add", "bob@example.org", "--language", "fr")
    assert refused.returncode == 1
    assert "language: 'fr' is not one of the site's languages (zh-CN, en)" in refused.stderr
    exported = cli(config, "export")
    assert [(row["email"], row["language"]) for row in csv.DictReader(
        io.StringIO(exported.stdout))] == [("alice@example.org", "en")]


def test_import_of_another_tools_export_refuses_a_language_the_site_lacks(
        tmp_path: Path) -> None:
    config = two_language_site(tmp_path)
    export = tmp_path / "listmonk.csv"
    export.write_text('email,name,attributes\n'
                      'alice@example.org,Alice,"{""language"": ""en""}"\n'
                      'bob@example.org,Bob,"{""language"": ""fr""}"\n', encoding="utf-8")
    refused = run_publisher_here(config, "import", str(export), env=ENV)
    assert refused.returncode == 1
    assert (f"{export}:3: language: 'fr' is not one of the site's languages (zh-CN, en)"
            in refused.stderr)
    done = run_publisher_here(config, "import", str(export), "--skip-errors", env=ENV)
    assert done.returncode == 0, done.stderr
    exported = cli(config, "export")
    assert [(row["email"], row["language"]) for row in csv.DictReader(
        io.StringIO(exported.stdout))] == [("alice@example.org", "en")]
