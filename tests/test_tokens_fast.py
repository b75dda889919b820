"""Untimed tokens made by publisher's shortcut are itsdangerous' own tokens, character for
character, for every kind of subscriber id and address, and for any other payload; and a
reader's token names the address it was made for."""

from __future__ import annotations

import random
from functools import cache
from typing import Any

import pytest
from itsdangerous import URLSafeSerializer

from publisher.errors import BadToken
from publisher.tokens import (
    BINDING_LENGTH,
    SHORT_ID,
    Purpose,
    TokenSigner,
    address_hash,
    preferences_token,
    reader_from,
    reader_tokens,
    unsubscribe_token,
)

KEYS = ("older-secret-key-1234567", "test-secret-key-0123456789")


@cache
def serializer(purpose: Purpose) -> URLSafeSerializer:
    return URLSafeSerializer(list(reversed(KEYS)), salt=purpose.value)


def reference(purpose: Purpose, payload: Any) -> str:
    return str(serializer(purpose).dumps(payload))


def ids() -> list[int]:
    rng = random.Random(3)
    repetitive = [int(digit * length) for digit in "123456789" for length in range(1, 10)]
    repetitive += [int(chunk * 3) for chunk in ("123", "999", "100", "121")]
    edges = [SHORT_ID - 1, SHORT_ID, SHORT_ID + 1, 10**18, 2**63 - 1, 11111111111111111111,
             -1, -10**9, 0]
    return [*range(20_000), *(rng.randrange(SHORT_ID) for _ in range(20_000)),
            *repetitive, *edges]


def test_unsubscribe_and_preferences_tokens_are_itsdangerous_tokens() -> None:
    signer = TokenSigner(KEYS)
    for number in ids():
        email = f"Reader.{number}@Example.org"
        reader = {"id": number, "a": address_hash(email)[:BINDING_LENGTH]}
        unsubscribe = unsubscribe_token(signer, number, email)
        preferences = preferences_token(signer, number, email)
        assert unsubscribe == reference(Purpose.UNSUBSCRIBE, reader)
        assert preferences == reference(Purpose.PREFERENCES, reader)
        assert reader_tokens(signer, number, email) == (unsubscribe, preferences)
    token = unsubscribe_token(signer, 42, "Reader@Example.org")
    found = reader_from(signer, Purpose.UNSUBSCRIBE, token)
    assert found.id == 42 and found.made_for("reader@example.org")
    assert not found.made_for("someone.else@example.org")


def test_payloads_other_than_a_reader_take_itsdangerous_own_path() -> None:
    signer = TokenSigner(KEYS)
    binding = "0123456789abcdef"
    odd: list[Any] = [{"id": True}, {"id": 1.0}, {"id": "1"}, {"id": 1, "x": 2}, {"ID": 1},
                      {"id": 10**12}, {"id": int("1" * 30)}, [1], "id", 5, None,
                      {"id": "a" * 200}, {"id": 1}, {"id": 7, "a": binding.upper()},
                      {"id": 7, "a": binding[:-1]}, {"a": binding, "id": 7},
                      {"id": 10**9, "a": binding}]
    for payload in odd:
        assert signer.sign(Purpose.UNSUBSCRIBE, payload) == reference(Purpose.UNSUBSCRIBE,
                                                                      payload)


def test_a_reader_payload_zlib_would_shorten_is_written_uncompressed_and_still_verifies(
) -> None:
    """No SHA-256 prefix is this repetitive; were one, its token stays valid."""
    signer = TokenSigner(KEYS)
    payload = {"id": 111111111, "a": "1" * BINDING_LENGTH}
    assert reference(Purpose.UNSUBSCRIBE, payload).startswith(".")  # itsdangerous: zlib
    token = signer.sign(Purpose.UNSUBSCRIBE, payload)
    assert not token.startswith(".")
    reader = URLSafeSerializer(list(reversed(KEYS)), salt=Purpose.UNSUBSCRIBE.value)
    assert reader.loads(token) == payload
    assert reader_from(signer, Purpose.UNSUBSCRIBE, token).binding == "1" * BINDING_LENGTH


def test_a_token_naming_only_an_id_still_verifies_and_names_no_address() -> None:
    signer = TokenSigner(KEYS)
    old = reader_from(signer, Purpose.UNSUBSCRIBE, reference(Purpose.UNSUBSCRIBE, {"id": 9}))
    assert (old.id, old.binding) == (9, None)
    for payload in ({"id": 9, "a": 5}, {"id": 9, "a": "x", "b": 1}, {"id": True}):
        with pytest.raises(BadToken):
            reader_from(signer, Purpose.UNSUBSCRIBE, reference(Purpose.UNSUBSCRIBE, payload))
