"""A title that looks like an RFC 2047 encoded word reaches the reader exactly as written."""

from __future__ import annotations

from dataclasses import replace
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.mail.wire import unstuffed
from publisher.sending.drain import make_job
from publisher.sending.send_issue import ready
from tests.conftest import SEED_ISSUE
from tests.sending.helpers import SECRETS, T0

TITLE = "Why =?utf-8?q?caf=C3=A9?= beats tea"
SEED_TITLE = 'title: "2024年6月上半月重要LLM论文"'
# The seed edition's Subject line as sent before encoded-word titles were encoded.
SEED_SUBJECT = b"Subject: =?utf-8?b?MjAyNOW5tDbmnIjkuIrljYrmnIjph43opoFMTE3orrrmloc=?=\r\n"


def wire_bytes(config: Config, issue: Path, encoding: str) -> bytes:
    settings = config.settings
    config = replace(config, settings=settings.model_copy(update={
        "email": settings.email.model_copy(update={"transfer_encoding": encoding})}))
    job = make_job(1, "tag:example.org,2024-06-16:x", ready(config, issue).rendered, config,
                   SECRETS, T0)
    return unstuffed(job.builder.build((1, 7, "reader@example.net", "Reader")))


def subject_line(raw: bytes) -> bytes:
    start = raw.index(b"\r\nSubject: ") + 2
    end = raw.index(b"\r\n", start)
    while raw[end + 2:end + 3] in (b" ", b"\t"):  # folded continuation lines
        end = raw.index(b"\r\n", end + 2)
    return raw[start:end + 2]


@pytest.mark.parametrize("encoding", ["8bit", "quoted-printable"])
def test_a_title_with_an_encoded_word_is_shown_exactly_as_written(
    seed_config: Config, tmp_path: Path, encoding: str
) -> None:
    issue = tmp_path / SEED_ISSUE.name
    text = SEED_ISSUE.read_text(encoding="utf-8")
    assert SEED_TITLE in text
    issue.write_text(text.replace(SEED_TITLE, f'title: "{TITLE}"'), encoding="utf-8")
    raw = wire_bytes(seed_config, issue, encoding)
    assert TITLE.encode() not in raw.split(b"\r\n\r\n", 1)[0]  # never raw in the header
    message = message_from_bytes(raw, policy=policy.default)
    assert str(message["Subject"]) == TITLE
    assert subject_line(raw).isascii()


@pytest.mark.parametrize("encoding", ["8bit", "quoted-printable"])
def test_the_seed_editions_subject_bytes_are_unchanged(seed_config: Config,
                                                       encoding: str) -> None:
    assert subject_line(wire_bytes(seed_config, SEED_ISSUE, encoding)) == SEED_SUBJECT
