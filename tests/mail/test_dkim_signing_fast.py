"""The signer's shortcuts (fields parsed without dkimpy's regexes, a shared body prefix
hashed once, a folded template per key and second) give dkimpy's own signatures: the
former signer of tests/deliverability/test_wire_bytes.py is the reference, over clocks that
tick, bodies that change how they begin, several sends interleaved and odd header fields."""

from __future__ import annotations

import hashlib
import random
from datetime import timedelta

import dkim
import pytest

from publisher.mail.dkim_signing import (
    SHARED_PREFIX,
    DkimKey,
    _BodyHashes,
    canonicalization,
    generate,
    make_signer,
    parse_field,
)
from tests.deliverability.test_wire_bytes import former_signature
from tests.sending.helpers import T0

KEYS = [DkimKey("pub2024", "example.org", generate("rsa", 2048)),
        DkimKey("pub2024ed", "example.org", generate("ed25519")),
        DkimKey("big", "mail.example.com", generate("rsa", 3072))]


def message(rng: random.Random, shared: bytes, index: int) -> bytes:
    to = rng.choice([b"To: u%d@example.net" % index, b"To:\r\n u%d@example.net" % index,
                     b"To: \"A  B\"\t <u%d@example.net>  " % index])
    head = (b"From: a@example.org\r\n" + to + b"\r\nSubject: s\r\n"
            b"Message-ID: <%d@example.org>\r\nList-Unsubscribe: <https://x/%d>,\r\n"
            b" <mailto:u@example.org?subject=%d>\r\n" % (index, index, index))
    return head + b"\r\n" + shared + b"hello %d\r\n" % index + shared[: rng.randrange(9000)]


def test_signatures_match_dkimpys_steps_as_the_clock_ticks_and_sends_interleave() -> None:
    rng = random.Random(5)
    sends = [bytes(rng.randrange(32, 127) for _ in range(size)) + b"\r\n"
             for size in (0, 100, SHARED_PREFIX - 1, SHARED_PREFIX * 3 + 7)]
    now = [T0]
    sign = make_signer(KEYS, lambda: now[0])
    for index in range(160):
        now[0] = T0 + timedelta(seconds=index // 20)
        shared = sends[index // 40] if index % 7 else rng.choice(sends)
        text = message(rng, shared, index)
        expected = b"".join(former_signature(text, key, int(now[0].timestamp()))
                            for key in KEYS) + text
        assert sign(text) == expected, index


def test_a_body_prefix_learnt_once_gives_the_whole_bodys_hash() -> None:
    rng = random.Random(9)
    base = bytes(rng.randrange(256) for _ in range(SHARED_PREFIX * 5))
    bodies = [base, base, base + b"x", base[:SHARED_PREFIX * 2] + b"y" + base,
              base[:100], b"", base[: SHARED_PREFIX * 2], base, b"z" + base, base]
    hashes = _BodyHashes()
    for body in bodies * 3:
        for start in (0, 3):
            framed = b"abc"[:start] + body
            assert hashes.digest(framed, start) == hashlib.sha256(body).digest()


@pytest.mark.parametrize("field", [
    b"To: a@example.net", b"To:a", b"To:", b"To:  spaced \t out  ", b"To:\r\n folded",
    b"Subject: x\r\n\t\r\n  y ", b"X-Cr: bare\rcr", b"UPPER-Case: Value", b"no colon here",
    b"From nobody", b"Bad Name: x", b"\xc3\xa9: x", b"To: \x0bvertical\x0c ",
])
def test_one_field_parses_and_canonicalises_as_dkimpy_does(field: bytes) -> None:
    try:
        parsed = [(n, v) for n, v in dkim.rfc822_parse(field + b"\r\n\r\n")[0]]
    except dkim.MessageFormatError:
        with pytest.raises(dkim.MessageFormatError):
            parse_field(field)
        return
    assert parse_field(field) == (parsed, canonicalization().canonicalize_headers(parsed))
