"""HMAC-signed tokens with one salt per purpose, optional expiry, and key rotation; a
reader's unsubscribe and preferences tokens name their id and their address's hash; a
click token names a send and a link of its email, never a reader."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
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
    CLICK = "publisher.click.v1"


MAX_AGE: dict[Purpose, timedelta | None] = {
    Purpose.CONFIRM: timedelta(days=7),
    Purpose.UNSUBSCRIBE: None,  # must work for as long as the mail sits in an inbox
    Purpose.PREFERENCES: None,
    Purpose.CSRF: timedelta(hours=2),
    Purpose.BOUNCE: None,
    # A link in a mail works for as long as the mail is kept, as the archive's pages do; it
    # names only (send, link), so an old one gives nothing away.
    Purpose.CLICK: None,
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
        self._seals: dict[Purpose, Callable[[bytes], str]] = {
            purpose: _seal(serializer) for purpose, serializer in self._serializers.items()
            if isinstance(serializer, URLSafeSerializer)
        }

    def sign(self, purpose: Purpose, payload: Any) -> str:
        seal = self._seals.get(purpose)
        if seal is None:
            return str(self._serializers[purpose].dumps(payload))
        return seal(_reader_payload(payload) or self._serializers[purpose].dump_payload(payload))

    def sign_reader(self, subscriber_id: int, email: str) -> tuple[str, str]:
        """A reader's unsubscribe and preferences tokens: one payload (one address hash,
        one encoding) under the two purposes' MACs; what `sign` makes of each."""
        binding = address_hash(email)[:BINDING_LENGTH]
        if type(subscriber_id) is not int or not 0 <= subscriber_id < SHORT_ID:
            payload = {"id": subscriber_id, "a": binding}
            return self.sign(Purpose.UNSUBSCRIBE, payload), self.sign(Purpose.PREFERENCES, payload)
        value = _encoded_reader(subscriber_id, binding)
        return self._seals[Purpose.UNSUBSCRIBE](value), self._seals[Purpose.PREFERENCES](value)

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


def _seal(serializer: URLSafeSerializer) -> Callable[[bytes], str]:
    """The serializer's own signing of an encoded payload, with the key derived once.

    itsdangerous derives the key and builds a signer on every call; a send makes two
    untimed tokens per message, so that set-up was most of the cost of personalising.
    """
    signer = serializer.make_signer()
    prepared = hmac.new(signer.derive_key(), digestmod=signer.digest_method)

    def seal(value: bytes) -> str:
        mac = prepared.copy()
        mac.update(value)
        return (value + signer.sep + base64_encode(mac.digest())).decode("ascii")

    return seal


SHORT_ID = 10**9  # the shortcut's ids: below this, at most 9 digits
BINDING_LENGTH = 16  # hex digits of the address hash a reader's tokens carry
_HEX = frozenset("0123456789abcdef")


def _reader_payload(payload: Any) -> bytes | None:
    """URLSafeSerializer.dump_payload of {"id": n, "a": binding} (0 <= n < SHORT_ID, a
    binding of BINDING_LENGTH hex digits), without its JSON encoder and zlib attempt; None
    for any other payload.

    itsdangerous keeps the zlib form only if it is at least 2 octets shorter. The JSON here
    is 31 to 39 octets with no repeated 3 octets in its fixed part; zlib spends 6 octets on
    header and checksum and a fixed-code block 8 bits a literal, so it would need repeats
    covering some 9 octets of the id and the 16 hash digits, which a SHA-256 prefix all but
    never holds (of 1,000,000 random payloads, zlib made none shorter by even 1 octet).
    Should one be, this form is still the same valid token every time: itsdangerous reads
    uncompressed payloads.
    """
    if type(payload) is not dict or len(payload) != 2:
        return None
    number, binding = payload.get("id"), payload.get("a")
    if (type(number) is not int or not 0 <= number < SHORT_ID or type(binding) is not str
            or len(binding) != BINDING_LENGTH or not _HEX.issuperset(binding)
            or next(iter(payload)) != "id"):
        return None
    return _encoded_reader(number, binding)


def _encoded_reader(number: int, binding: str) -> bytes:
    return base64_encode(b'{"id":%d,"a":"%s"}' % (number, binding.encode("ascii")))


def address_hash(email: str) -> str:
    """SHA-256 (hex) of an address's case-folded form: what `suppressions` keeps of an
    erased address, and (its first BINDING_LENGTH digits) what binds a reader's tokens to
    the address they were made for."""
    return hashlib.sha256(email.casefold().encode("utf-8")).hexdigest()


# The payloads each purpose carries: the shared contract of web, outbox and bounce code.
# A reader's link names the id and the start of the address's hash, so it never acts on
# anyone else, even where a database gave an erased reader's id to someone new.
def _reader(subscriber_id: int, email: str) -> dict[str, Any]:
    return {"id": subscriber_id, "a": address_hash(email)[:BINDING_LENGTH]}


def unsubscribe_token(signer: TokenSigner, subscriber_id: int, email: str) -> str:
    return signer.sign(Purpose.UNSUBSCRIBE, _reader(subscriber_id, email))


def preferences_token(signer: TokenSigner, subscriber_id: int, email: str) -> str:
    return signer.sign(Purpose.PREFERENCES, _reader(subscriber_id, email))


def reader_tokens(signer: TokenSigner, subscriber_id: int, email: str) -> tuple[str, str]:
    """The unsubscribe and the preferences token of one message."""
    return signer.sign_reader(subscriber_id, email)


def confirm_token(signer: TokenSigner, subscriber_id: int, email: str) -> str:
    # The address is inside, so a token issued before an address change stops working.
    return signer.sign(Purpose.CONFIRM, {"id": subscriber_id, "email": email})


@dataclass(frozen=True)
class Reader:
    """Whom a verified unsubscribe or preferences token names: an id and the start of the
    address's hash (None in a token made before tokens carried it: such a token names only
    an id that was never erased, see publisher.subscribers.store.token_holder)."""

    id: int
    binding: str | None

    def made_for(self, email: str) -> bool:
        """Whether this token was made for this address (an old id-only token: for anyone)."""
        return self.binding is None or hmac.compare_digest(
            self.binding, address_hash(email)[:BINDING_LENGTH])


def reader_from(signer: TokenSigner, purpose: Purpose, token: str) -> Reader:
    """Verify an unsubscribe or preferences token; BadToken for anything else."""
    payload = signer.verify(purpose, token)
    if not isinstance(payload, dict) or type(payload.get("id")) is not int:
        raise BadToken("invalid token")
    binding = payload.get("a")
    if binding is None and len(payload) == 1:
        return Reader(payload["id"], None)
    if not isinstance(binding, str) or len(payload) != 2:
        raise BadToken("invalid token")
    return Reader(payload["id"], binding)


def link_token(signer: TokenSigner, send_id: int, number: int) -> str:
    """The token of link `number` of a send's email: the same for every reader."""
    return signer.sign(Purpose.CLICK, [send_id, number])


def link_from(signer: TokenSigner, token: str) -> tuple[int, int]:
    """The (send, link number) a click token names; BadToken for anything else."""
    payload = signer.verify(Purpose.CLICK, token)
    if (not isinstance(payload, list) or len(payload) != 2
            or not all(type(n) is int and n > 0 for n in payload)):
        raise BadToken("invalid token")
    return payload[0], payload[1]
