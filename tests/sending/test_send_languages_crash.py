"""SIGKILL a real `publisher send` of an issue with a translation (half the readers in
English, half in the site's Chinese) at random moments, resume, and check that nobody was
missed, a re-send is the same message, and every copy is in its reader's language."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from publisher.db import open_database
from publisher.subscribers import store
from tests.conftest import DATA
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import T0, add_confirmed
from tests.sending.test_send_crash import (
    SUBSCRIBERS,
    WINDOW,
    kill_then_resume,
    sent_states,
    write_site,
)

pytestmark = pytest.mark.slow  # SIGKILL loops of real `publisher send` processes

TRANSLATION = DATA / "translations" / "2024-06-first-half.en.md"


def write_translated_site(tmp_path: Path, port: int) -> Path:
    """The crash tests' site, publishing in zh-CN and en, with the English translation."""
    config = write_site(tmp_path, port)
    shutil.copy(TRANSLATION, tmp_path / "issues")
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('language = "zh-CN"\n',
                                   'language = "zh-CN"\nlanguages = ["zh-CN", "en"]\n', 1),
                      encoding="utf-8")
    return config


def test_sigkill_of_a_two_language_send_then_resume_keeps_each_reader_in_their_language(
        tmp_path: Path, report_figure: Callable[[str], None]) -> None:
    rng = random.Random(20240617)
    with FaultySMTP(lambda r, a: "ok", delay=0.02) as server:
        config = write_translated_site(tmp_path, server.port)
        engine = open_database(f"sqlite:///{tmp_path / 'var' / 'publisher.db'}")
        addresses = add_confirmed(engine, SUBSCRIBERS)
        with engine.begin() as conn:  # every other reader reads English
            for subscriber_id in range(1, SUBSCRIBERS + 1, 2):
                store.set_language(conn, subscriber_id, "en", T0)
        expected = {address: "en" if n % 2 == 0 else "zh-CN"
                    for n, address in enumerate(addresses)}
        per_kill, orphans = kill_then_resume(config, server, rng, kills=3)
    report_figure(f"SIGKILL of a two-language `publisher send`: duplicates per kill "
                  f"{per_kill} (window {WINDOW})")
    assert len(per_kill) >= 2, "the kills should land while the send is running"
    assert not orphans, "a sender process outlived its killed drain"
    assert set(server.delivered) == set(addresses), "someone was missed"
    assert all(extra <= WINDOW for extra in per_kill)
    for address, count in server.delivered.items():
        assert count == 1 or len(set(server.message_ids[address])) == 1, \
            "a re-send must be the same message"
        assert set(server.languages[address]) == {expected[address]}, address
    assert sent_states(engine) == {"sent": SUBSCRIBERS}
