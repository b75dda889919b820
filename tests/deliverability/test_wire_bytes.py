"""The bytes publisher writes after DATA are the bytes it wrote before the wire form was
prepared once per send: aiosmtplib's own line-ending normalisation and dot-stuffing of the
message signed by the former signer is the reference, for the seed edition in both transfer
encodings, with and without DKIM, for many recipients whose values force quoted-printable,
RFC 2047 or a "." at the start of a line."""

from __future__ import annotations

import base64
import hashlib
import random
import re
from dataclasses import replace
from pathlib import Path

import dkim
import pytest
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from publisher.config import Config
from publisher.mail.assemble import Builder
from publisher.mail.dkim_signing import (
    CANONICALIZATION,
    SIGNED_HEADERS,
    DkimKey,
    canonicalization,
    keys_from_config,
    make_signer,
)
from publisher.mail.mime import PreparedMessage, Recipient, Slot
from publisher.mail.wire import Outgoing, unstuffed
from publisher.sending.drain import make_job
from publisher.sending.send_issue import ready
from tests.conftest import SEED_ISSUE
from tests.deliverability.test_postfix_dkim_spam import dkim_site, dns_for
from tests.sending.helpers import SECRETS, T0

ALPHABETS = ["abcdefghijklmnopqrstuvwxyz", "ABCXYZ", "0123456789", ". . .", "  \t",
             "\"'\\,;:<>()[]@=?_", "读者张伟长名字中文", "Zoë Ünal-Øster", "😀", "=?utf-8?q?"]
DOT_NAMES = [".Bob", "...", ".", "..", ". .", "a" * 75 + ".x", "a" * 74 + ".", "a" * 76 + ".",
             "读" * 25 + ".", "长" * 100, "x" * 300 + ".end", "", "   ", ".读者", "=2E"]
DOT_LOCALS = [".bob", "a" * 75 + ".x", "a" * 70 + ".=.", "x=y", "..", "u" * 150 + ".v",
              "a" * 72 + ".=2E.b", "a.b.c"]


def random_names(count: int, seed: int = 17) -> list[str]:
    rng = random.Random(seed)
    names = []
    for _ in range(count):
        length = rng.choice([1, 3, 10, 40, 75, 76, 77, 120, 260])
        names.append("".join(rng.choice(rng.choice(ALPHABETS)) for _ in range(length)))
    return names


def recipients() -> list[Recipient]:
    names = DOT_NAMES + random_names(150)
    people = [Recipient(n + 1, f"u{n}@example.net", name) for n, name in enumerate(names)]
    people += [Recipient(1000 + n, f"{local}@example.net", name)
               for n, (local, name) in enumerate(zip(DOT_LOCALS, DOT_NAMES, strict=False))]
    return people


def former_signature(message: bytes, key: DkimKey, timestamp: int) -> bytes:
    """The DKIM-Signature header as publisher made it before (commit 90bb7f5): dkimpy's
    parser, canonicalisation and header hashing over the whole header block."""
    end = message.find(b"\r\n\r\n")
    headers, _ = dkim.rfc822_parse(message[: end + 4])
    body_hash = base64.b64encode(hashlib.sha256(
        canonicalization().canonicalize_body(message[end + 4:])).digest())
    present = {name.lower() for name, _ in headers}
    include = [h for h in SIGNED_HEADERS if h in present]
    domain = key.domain.encode()
    fields = [(b"v", b"1"), (b"a", key.algorithm), (b"c", b"/".join(CANONICALIZATION)),
              (b"d", domain), (b"i", b"@" + domain), (b"q", b"dns/txt"),
              (b"s", key.selector.encode()), (b"t", str(timestamp).encode()),
              (b"h", b" : ".join(include)), (b"bh", body_hash), (b"b", b"0" * 60)]
    value = dkim.fold(b"; ".join(b"=".join(f) for f in fields), namelen=len(b"DKIM-Signature"),
                      linesep=b"\r\n")
    value = dkim.RE_BTAG.sub(b"\\1", value)
    hasher = hashlib.sha256()
    policy = canonicalization()
    dkim.hash_headers(hasher, policy, policy.canonicalize_headers(headers), include,
                      (b"DKIM-Signature", b" " + value), dict(fields))
    if isinstance(key.key, rsa.RSAPrivateKey):
        raw = key.key.sign(hasher.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    else:
        raw = key.key.sign(hasher.digest())
    fields[-1] = (b"b", base64.b64encode(raw))
    signed = b"; ".join(b"=".join(f) for f in fields) + b"\r\n"
    folded: bytes = dkim.fold(signed, namelen=len(b"DKIM-Signature"), linesep=b"\r\n")
    return b"DKIM-Signature: " + folded


def as_aiosmtplib_sent(message: bytes) -> Outgoing:
    """What aiosmtplib's sendmail puts in SIZE= and writes after DATA for these bytes."""
    text = normalize_message_line_endings(message)
    return Outgoing(PERIOD_REGEX.sub(b"..", text), len(text), not text.isascii())


def timestamp_of(outgoing: Outgoing) -> int:
    found = re.search(rb"\bt=(\d+);", outgoing.data)
    assert found
    return int(found.group(1))


def seed_builder(config: Config, encoding: str) -> Builder:
    settings = config.settings
    config = replace(config, settings=settings.model_copy(update={
        "email": settings.email.model_copy(update={"transfer_encoding": encoding})}))
    job = make_job(1, "tag:digest.example.org,2024-06-16:x", ready(config, SEED_ISSUE).rendered,
                   config, SECRETS, T0)
    return job.builder


@pytest.mark.parametrize("encoding", ["8bit", "quoted-printable"])
@pytest.mark.parametrize("signed", [False, True], ids=["plain", "dkim"])
def test_the_wire_bytes_are_what_aiosmtplib_wrote_for_the_former_message(
    seed_config: Config, tmp_path: Path, encoding: str, signed: bool
) -> None:
    config = dkim_site(seed_config, tmp_path) if signed else seed_config
    keys = keys_from_config(config, SECRETS)
    builder = seed_builder(config, encoding)
    kinds = {"qp-fallback": 0, "stuffed": 0, "8bit": 0}
    for person in recipients():
        sent = builder.build((person.subscriber_id, person.subscriber_id, person.email,
                              person.name))
        message = builder.prepared.personalise(builder.personaliser.values(person))
        if signed:
            timestamp = timestamp_of(sent)
            message = b"".join(former_signature(message, key, timestamp)
                               for key in keys) + message
        assert sent == as_aiosmtplib_sent(message), person
        kinds["qp-fallback"] += b"Content-Transfer-Encoding: quoted-printable" in message
        kinds["stuffed"] += sent.data.count(b"\r\n..") > message.count(b"\r\n..")
        kinds["8bit"] += sent.eight_bit
    # the recipients did reach every case they were chosen for
    assert kinds["stuffed"] >= 10 and kinds["qp-fallback"] >= 10, kinds
    assert kinds["8bit"] >= (100 if encoding == "8bit" else 0), kinds


def test_values_the_wire_form_cannot_take_go_the_one_off_way_with_the_same_bytes(
    seed_config: Config,
) -> None:
    odd = ["", "\n", "ends a line\r\n", "bare\nLF", "bare\rCR", "\r\n.dot line", ".", "x\r"]
    for encoding in ("8bit", "quoted-printable"):
        builder = seed_builder(seed_config, encoding)
        values = builder.personaliser.values(Recipient(7, "u7@example.net", "Ada"))
        for slot in (Slot.TO, Slot.TEXT_NAME, Slot.HTML_NAME, Slot.TEXT_EMAIL):
            for value in odd:
                changed = {**values, slot: value}
                sent, message = builder.prepared.outgoing(changed, with_message=True)
                former = builder.prepared.personalise(changed)
                assert sent == as_aiosmtplib_sent(former), (slot, value)
                assert message == normalize_message_line_endings(former)
                assert unstuffed(sent) == message


def test_the_header_signer_gives_the_former_signatures_and_they_verify(
    seed_config: Config, tmp_path: Path
) -> None:
    config = dkim_site(seed_config, tmp_path)
    keys = keys_from_config(config, SECRETS)
    records = dns_for(config)
    sign = make_signer(keys, lambda: T0)
    builder = seed_builder(config, "8bit")
    odd = [b"From: a@example.org\r\nTo: b@example.net\r\nSubject:  folded\r\n\t  twice  \r\n"
           b"Subject: again\r\nX-Other: 1\r\n\r\nbody ending in blank lines\r\n\r\n\r\n",
           b"From: a@example.org\r\nTo:\r\n b@example.net\r\n\r\nno final line break"]
    people = recipients()[:40]
    messages = [builder.prepared.personalise(builder.personaliser.values(p)) for p in people]
    for message in messages + odd:
        signed = sign(message)
        former = b"".join(former_signature(message, key, int(T0.timestamp()))
                          for key in keys) + message
        assert signed == former
        for index in range(len(keys)):
            assert dkim.DKIM(signed).verify(idx=index, dnsfunc=lambda name, timeout=5:
                                            records.get(name if name.endswith(b".")
                                                        else name + b"."))


@pytest.mark.parametrize("pieces", [
    (b"A: b\r\n\r\n", Slot.TEXT_NAME, b".x\r\n.", Slot.TEXT_EMAIL, b".y\r\n"),
    (b"A: b\r\n\r\n", Slot.TEXT_NAME, Slot.TEXT_EMAIL, b"\r\n"),
    (Slot.TEXT_NAME, b": b\r\n\r\n.\r\n", Slot.TEXT_EMAIL, b"\r\n"),
], ids=["dot-after-slot", "adjacent-slots", "slot-first"])
def test_a_value_that_moves_a_line_start_never_leaves_a_dot_unstuffed(
    pieces: tuple[bytes | Slot, ...],
) -> None:
    # The seed edition never puts a "." right after a slot; a template could.
    prepared = PreparedMessage(pieces, eight_bit_slots=frozenset(Slot))
    values = ["", "a", "a\r\n", ".", "\r\n.", "\r\n", ".\r\n", "a\nb"]
    for name in values:
        for email in values:
            changed = {slot: "v" for slot in Slot} | {Slot.TEXT_NAME: name,
                                                      Slot.TEXT_EMAIL: email}
            sent, _ = prepared.outgoing(changed)
            assert sent == as_aiosmtplib_sent(prepared.personalise(changed)), (name, email)
