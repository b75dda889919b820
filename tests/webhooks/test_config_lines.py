"""A `[[webhooks]]` table's error names the file and the line: of the key when it is in the
table, else of the table's `[[webhooks]]` header (a key that is missing); the N-th table is
counted as TOML counts them, whatever comes between. The broken file and the exact error
it must produce are under tests/data/webhooks/."""

from __future__ import annotations

import pytest

from publisher.config import line_of_table_item, load_config
from publisher.errors import ConfigError
from tests.conftest import DATA

BROKEN = DATA / "webhooks" / "broken.toml"


def test_each_webhook_error_names_the_line_of_its_key_or_of_its_table() -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(config_file=BROKEN)
    expected = (DATA / "webhooks" / "broken.error").read_text(encoding="utf-8")
    assert str(refused.value) + "\n" == expected.replace("publisher.toml", str(BROKEN))


def test_the_nth_table_is_found_past_other_tables_and_comments() -> None:
    text = ("[[webhooks]]\nurl = 'a'\n[site]\ntitle = 'x'\n# [[webhooks]] in a comment\n"
            "[[ webhooks ]]  # the second\nevents = []\n")
    assert line_of_table_item(text, "webhooks", 0, "url") == 2
    assert line_of_table_item(text, "webhooks", 1, "events") == 7
    assert line_of_table_item(text, "webhooks", 1, "url") == 6
    assert line_of_table_item(text, "webhooks", 2, "url") is None
