"""Untimed tokens made by publisher's shortcut are itsdangerous' own tokens, character for
character, for every kind of subscriber id and for any other payload."""

from __future__ import annotations

import random
from typing import Any

from itsdangerous import URLSafeSerializer

from publisher.tokens import (
    SHORT_ID,
    Purpose,
    TokenSigner,
    preferences_token,
    subscriber_id_from,
    unsubscribe_token,
)

KEYS = ("older-secret-key-1234567", "test-secret-key-0123456789")


def reference(purpose: Purpose, payload: Any) -> str:
    return str(URLSafeSerializer(list(reversed(KEYS)), salt=purpose.value).dumps(payload))


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
        assert unsubscribe_token(signer, number) == reference(Purpose.UNSUBSCRIBE,
                                                              {"id": number})
        assert preferences_token(signer, number) == reference(Purpose.PREFERENCES,
                                                              {"id": number})
    assert subscriber_id_from(signer, Purpose.UNSUBSCRIBE, unsubscribe_token(signer, 42)) == 42


def test_payloads_other_than_a_short_id_take_itsdangerous_own_path() -> None:
    signer = TokenSigner(KEYS)
    odd: list[Any] = [{"id": True}, {"id": 1.0}, {"id": "1"}, {"id": 1, "x": 2}, {"ID": 1},
                      {"id": 10**12}, {"id": int("1" * 30)}, [1], "id", 5, None,
                      {"id": "a" * 200}]
    for payload in odd:
        assert signer.sign(Purpose.UNSUBSCRIBE, payload) == reference(Purpose.UNSUBSCRIBE,
                                                                      payload)
