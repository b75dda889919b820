"""A prepared message's signing plan (its fixed pieces canonicalised and hashed once per
send) gives dkimpy's own DKIM-Signature headers, byte for byte, for any slot values: runs of
spaces and tabs, trailing spaces, empty values, values at the start or end of a line, long
and non-ASCII values, in both transfer encodings; values with a CR or LF the plan cannot take
are signed as a whole message, as before, and every signature verifies with dkimpy."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from unittest.mock import patch

import dkim
import pytest
from aiosmtplib.protocol import normalize_message_line_endings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.mail.assemble import Builder
from publisher.mail.dkim_prepared import PreparedSigner, signing_plan
from publisher.mail.dkim_signing import SIGNED_HEADERS, DkimKey, keys_from_config
from publisher.mail.mime import HEADER_SLOTS, PreparedMessage, Recipient, Slot
from publisher.mail.wire import Outgoing
from tests.conftest import make_seed_config
from tests.deliverability.test_postfix_dkim_spam import dkim_site, dns_for
from tests.deliverability.test_wire_bytes import as_aiosmtplib_sent, seed_builder
from tests.sending.helpers import SECRETS, T0

TIMESTAMP = int(T0.timestamp())
CHUNKS = ["a", "Zoë", "读者", "😀", " ", "  ", "\t", " \t ", ".", "..", "=", "=?", "<", ">",
          "&", "x" * 90, "é" * 40, "https://example.org/u?t=abc", "@"]
LINE_BREAKS = ["\r\n", "\r\n ", "\r\n\t", "\n", "\r", "\r\n.", "\r\n\r\n"]
FOLDS = ["\r\n ", "\r\n\t"]


def values_of(chunks: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(chunks), max_size=12).map("".join)


BODY_VALUE = st.one_of(values_of(CHUNKS), values_of(CHUNKS + LINE_BREAKS), st.sampled_from(
    ["", " ", "trailing  ", "  leading", "\t", "x" * 300, "读" * 120]))
HEADER_VALUE = values_of(CHUNKS + FOLDS)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[DkimKey], dict[str, Builder],
                                                             dict[bytes, bytes]]:
    root = tmp_path_factory.mktemp("dkim-prepared")
    config = dkim_site(make_seed_config(root), root)
    builders = {encoding: seed_builder(config, encoding)
                for encoding in ("8bit", "quoted-printable")}
    return keys_from_config(config, SECRETS), builders, dns_for(config)


@contextmanager
def clock_of_dkimpy_at(timestamp: int) -> Iterator[None]:
    with patch.object(dkim, "time", SimpleNamespace(time=lambda: float(timestamp))):
        yield


def dkimpy_headers(message: bytes, keys: list[DkimKey]) -> bytes:
    """What dkim.sign itself writes for each key (its own parsing, canonicalisation and
    RSA), over the signed headers publisher includes."""
    end = message.find(b"\r\n\r\n")
    present = {name.lower() for name, _ in dkim.rfc822_parse(message[: end + 4])[0]}
    include = [h for h in SIGNED_HEADERS if h in present]
    headers = []
    with clock_of_dkimpy_at(TIMESTAMP):
        for key in keys:
            domain = key.domain.encode()
            headers.append(dkim.sign(message, key.selector.encode(), domain, _dkimpy_key(key),
                                     identity=b"@" + domain, signature_algorithm=key.algorithm,
                                     include_headers=include))
    return b"".join(headers)


def _dkimpy_key(key: DkimKey) -> bytes:
    if isinstance(key.key, rsa.RSAPrivateKey):
        return key.pem
    return base64.b64encode(key.key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption()))


def signed(prepared: PreparedMessage, signer: PreparedSigner,
           values: dict[Slot, str]) -> Outgoing:
    """The message as Builder.build writes it, for these values."""
    message, encoded = prepared.chosen(values)
    return message.written(encoded, signer.headers(message, encoded))


def assert_dkimpys_and_verifies(sent: Outgoing, prepared: PreparedMessage,
                                values: dict[Slot, str], keys: list[DkimKey],
                                records: dict[bytes, bytes]) -> None:
    message = normalize_message_line_endings(prepared.personalise(values))
    headers = dkimpy_headers(message, keys)
    assert sent == as_aiosmtplib_sent(headers + message)
    for index in range(len(keys)):
        assert dkim.DKIM(headers + message).verify(
            idx=index, dnsfunc=lambda name, timeout=5: records.get(name))


def plain_values(builder: Builder, subscriber: int) -> dict[Slot, str]:
    return builder.personaliser.values(Recipient(subscriber, f"u{subscriber}@example.net",
                                                 "读者"))


@pytest.mark.parametrize("encoding", ["8bit", "quoted-printable"])
def test_the_seed_edition_has_a_plan_and_uses_it(
        site: tuple[list[DkimKey], dict[str, Builder], dict[bytes, bytes]],
        encoding: str) -> None:
    keys, builders, records = site
    prepared = builders[encoding].prepared
    plan = signing_plan(prepared)
    assert plan is not None and frozenset(plan.header_slots) == HEADER_SLOTS
    values = plain_values(builders[encoding], 3)
    assert plan.parsed(prepared.chosen(values)[1]) is not None
    signer = PreparedSigner(keys, lambda: T0)
    assert_dkimpys_and_verifies(signed(prepared, signer, values), prepared, values, keys,
                                records)


@settings(max_examples=150, deadline=None)
@given(encoding=st.sampled_from(["8bit", "quoted-printable"]),
       body=st.dictionaries(st.sampled_from(sorted(set(Slot) - HEADER_SLOTS)), BODY_VALUE),
       header=st.dictionaries(st.sampled_from(sorted(HEADER_SLOTS)), HEADER_VALUE))
def test_signatures_are_dkimpys_own_for_any_slot_values(
        site: tuple[list[DkimKey], dict[str, Builder], dict[bytes, bytes]], encoding: str,
        body: dict[Slot, str], header: dict[Slot, str]) -> None:
    keys, builders, records = site
    prepared = builders[encoding].prepared
    values = plain_values(builders[encoding], 5) | body | header
    sent = signed(prepared, PreparedSigner(keys, lambda: T0), values)
    assert_dkimpys_and_verifies(sent, prepared, values, keys, records)


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\r\n\r\nbody", "bare\nLF",
                                   "bare\rCR", "ends\r\n", "\r\n"])
def test_a_header_value_with_a_line_break_is_not_planned_and_is_signed_whole_or_refused(
        site: tuple[list[DkimKey], dict[str, Builder], dict[bytes, bytes]],
        value: str) -> None:
    keys, builders, records = site
    prepared = builders["8bit"].prepared
    values = plain_values(builders["8bit"], 8) | {Slot.MESSAGE_ID: f"<{value}@x>"}
    plan = signing_plan(prepared)
    assert plan is not None and plan.parsed(prepared.chosen(values)[1]) is None
    message = normalize_message_line_endings(prepared.personalise(values))
    try:
        dkimpy_headers(message, keys)
    except dkim.MessageFormatError:  # a line without a colon: refused, as dkimpy refuses
        with pytest.raises(dkim.MessageFormatError):
            signed(prepared, PreparedSigner(keys, lambda: T0), values)
        return
    sent = signed(prepared, PreparedSigner(keys, lambda: T0), values)
    assert_dkimpys_and_verifies(sent, prepared, values, keys, records)


@pytest.mark.parametrize("pieces", [
    (b"From: a@x\r\nTo: ", Slot.TO, b"\r\n\r\nHi ", Slot.TEXT_NAME, b"\r\n"),  # 2-octet end
    (b"From: a@x\r\n", Slot.TO, b": b\r\n\r\nbody\r\n"),  # a slot where a name goes
    (b"From: a@x\r\nTo: ", Slot.TO, b"\r\n\r\n", Slot.TEXT_NAME),  # a slot ends the body
    (b"From: a@x\r\nTo: b\r\n", Slot.TEXT_NAME, b"\r\nbody\r\n"),  # a slot may end the header
], ids=["short-last-piece", "slot-name", "slot-last", "slot-at-line-start"])
def test_shapes_a_plan_cannot_take_have_none(pieces: tuple[bytes | Slot, ...]) -> None:
    assert signing_plan(PreparedMessage(pieces)) is None


def test_odd_but_plannable_shapes_sign_as_dkimpy_does(
        site: tuple[list[DkimKey], dict[str, Builder], dict[bytes, bytes]]) -> None:
    keys, _, records = site
    shapes = [
        (b"From: a@x\r\nTo: ", Slot.TO, b" (", Slot.TEXT_NAME, b")\r\n\tfolded  \r\n"
         b"Subject:  twice\r\nsubject: last  \r\n\r\n", Slot.TEXT_EMAIL, b" x\r\n"),
        (b"From: a@x\r\nTo:", Slot.TO, b"\r\nTo: fixed wins\r\n\r\nno slot in the body\r\n"),
        (b"From: a@x\r\nTo: b\r\n\r\nbody ending in blank lines\r\n\r\n\r\n",),
    ]
    for pieces in shapes:
        prepared = PreparedMessage(pieces, eight_bit_slots=frozenset(Slot))
        assert signing_plan(prepared) is not None
        for name in ["", " ", "a  b\t", "\t", "读者 "]:
            values = {slot: "v" for slot in Slot} | {Slot.TO: name or "t",
                                                     Slot.TEXT_NAME: name}
            sent = signed(prepared, PreparedSigner(keys, lambda: T0), values)
            assert_dkimpys_and_verifies(sent, prepared, values, keys, records)


def test_a_send_keeps_one_plan_per_prepared_message(
        site: tuple[list[DkimKey], dict[str, Builder], dict[bytes, bytes]]) -> None:
    keys, builders, _ = site
    signer = PreparedSigner(keys, lambda: T0)
    prepared = builders["8bit"].prepared
    for subscriber in range(3):
        message, encoded = prepared.chosen(plain_values(builders["8bit"], subscriber))
        signer.headers(message, encoded)
    assert len(signer._plans) == 1
