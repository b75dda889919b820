"""HMAC-signed tokens with one salt per purpose, optional expiry, and key rotation."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import timedelta
from enum import Enum
from typing import Any

from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

from publisher.errors import BadToken


class Purpose(Enum):
    """Each purpose signs with its own salt, so a token for one never works for another."""

    CONFIRM = "publisher.confirm.v1"
    UNSUBSCRIBE = "publisher.unsubscribe.v1"
    PREFERENCES = "publisher.preferences.v1"
    CSRF = "publisher.csrf.v1"
    BOUNCE = "publisher.bounce.v1"


MAX_AGE: dict[Purpose, timedelta | None] = {
    Purpose.CONFIRM: timedelta(days=7),
    Purpose.UNSUBSCRIBE: None,  # must work for as long as the mail sits in an inbox
    Purpose.PREFERENCES: None,
    Purpose.CSRF: timedelta(hours=2),
    Purpose.BOUNCE: None,
}
MAX_TOKEN_LENGTH = 512


class TokenSigner:
    """Signs with the newest key; verifies with it and every older key still listed."""

    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is required")
        # itsdangerous signs with the last key and accepts all of them.
        self._keys = list(reversed(secret_keys))
        # Purposes without expiry use untimed signatures: the same subscriber always gets
        # the same unsubscribe token, so a retried delivery is byte-for-byte the same mail.
        self._serializers: dict[Purpose, URLSafeSerializer | URLSafeTimedSerializer] = {
            purpose: (URLSafeTimedSerializer(self._keys, salt=purpose.value)
                      if MAX_AGE[purpose] is not None
                      else URLSafeSerializer(self._keys, salt=purpose.value))
            for purpose in Purpose
        }
        self._untimed: dict[Purpose, Callable[[Any], str]] = {
            purpose: _sign_untimed(serializer) for purpose, serializer in self._serializers.items()
            if isinstance(serializer, URLSafeSerializer)
        }

    def sign(self, purpose: Purpose, payload: Any) -> str:
        fast = self._untimed.get(purpose)
        return fast(payload) if fast else str(self._serializers[purpose].dumps(payload))

    def verify(self, purpose: Purpose, token: str, *, max_age: timedelta | None = None) -> Any:
        """Return the payload, or raise BadToken (never anything else) for any bad input."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise BadToken("invalid token")
        limit = max_age if max_age is not None else MAX_AGE[purpose]
        serializer = self._serializers[purpose]
        try:
            if isinstance(serializer, URLSafeTimedSerializer):
                seconds = int(limit.total_seconds()) if limit is not None else None
                return serializer.loads(token, max_age=seconds)
            return serializer.loads(token)
        except BadData as exc:
            raise BadToken("invalid or expired token") from exc
        except (ValueError, TypeError, UnicodeError) as exc:
            raise BadToken("invalid token") from exc


def _sign_untimed(serializer: URLSafeSerializer) -> Callable[[Any], str]:
    """The serializer's own `dumps`, byte for byte, with the key derived once.

    itsdangerous derives the key and builds a signer on every call; a send makes two
    untimed tokens per message, so that set-up was most of the cost of personalising.
    """
    signer = serializer.make_signer()
    prepared = hmac.new(signer.derive_key(), digestmod=signer.digest_method)

    def dumps(payload: Any) -> str:
        value = _id_payload(payload) or serializer.dump_payload(payload)
        mac = prepared.copy()
        mac.update(value)
        return (value + signer.sep + base64_encode(mac.digest())).decode("ascii")

    return dumps


SHORT_ID = 10**9  # ids below this make a JSON payload that zlib never shortens


def _id_payload(payload: Any) -> bytes | None:
    """URLSafeSerializer.dump_payload of {"id": n}, for 0 <= n < SHORT_ID, without its
    JSON encoder and zlib attempt; None for any other payload.

    itsdangerous keeps the zlib form only if it is at least 2 octets shorter. The JSON
    here is at most 16 octets; zlib's output is at least 6 octets of header and checksum
    plus a deflate block that spends at least 8 bits on each of the 7 fixed characters
    and the first digit (they occur once, so no match can stand for them) and 10 bits on
    block header and end code: 16 octets or more, never shorter.
    """
    if type(payload) is not dict or len(payload) != 1:
        return None
    number = payload.get("id")
    if type(number) is not int or not 0 <= number < SHORT_ID:
        return None
    return base64_encode(b'{"id":%d}' % number)


# The payloads each purpose carries: the shared contract of web, outbox and bounce code.
def unsubscribe_token(signer: TokenSigner, subscriber_id: int) -> str:
    return signer.sign(Purpose.UNSUBSCRIBE, {"id": subscriber_id})


def preferences_token(signer: TokenSigner, subscriber_id: int) -> str:
    return signer.sign(Purpose.PREFERENCES, {"id": subscriber_id})


def confirm_token(signer: TokenSigner, subscriber_id: int, email: str) -> str:
    # The address is inside, so a token issued before an address change stops working.
    return signer.sign(Purpose.CONFIRM, {"id": subscriber_id, "email": email})


def subscriber_id_from(signer: TokenSigner, purpose: Purpose, token: str) -> int:
    """Verify a token and return its subscriber id; BadToken for anything else."""
    payload = signer.verify(purpose, token)
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), int):
        raise BadToken("invalid token")
    return int(payload["id"])
