"""Message-IDs that name their subscriber to us and to nobody else.

A Message-ID is `<32 hex digits@domain>`: one AES block, under a key derived from the
secret, holding a hash of the issue's entry id and the subscriber id. It is deterministic
(a re-sent delivery is the same message), tells a reader nothing (not how many subscribed
before them), and a bounce that quotes it is evidence we can check: a forged or made-up
Message-ID decrypts to an issue hash that matches no send.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

_OURS = re.compile(r"<([0-9a-f]{32})@[^>\s]+>", re.IGNORECASE)


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"publisher.message-id.v1", hashlib.sha256).digest()[:16]


@lru_cache(maxsize=64)  # a send makes every one of its Message-IDs with one entry id
def entry_hash(entry_id: str) -> int:
    """The 64-bit issue part of a Message-ID."""
    return int.from_bytes(hashlib.sha256(entry_id.encode()).digest()[:8], "big")


_ENCRYPTORS = threading.local()  # per thread: a cipher context is not shared across threads
ENCRYPTORS_KEPT = 16


def _encrypted(key: bytes, block: bytes) -> bytes:
    """One AES block under key. ECB carries nothing from one block to the next, so one
    encryptor per key (and thread) serves every Message-ID instead of one each."""
    kept: dict[bytes, CipherContext] | None = getattr(_ENCRYPTORS, "by_key", None)
    if kept is None or len(kept) >= ENCRYPTORS_KEPT:
        kept = _ENCRYPTORS.by_key = {}
    encryptor = kept.get(key)
    if encryptor is None:
        encryptor = kept[key] = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block)


@dataclass(frozen=True)
class MessageIds:
    """Makes and reads Message-IDs with the current secret (reads with older ones too)."""

    secrets: tuple[str, ...]
    _keys: tuple[bytes, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keys", tuple(_key(secret) for secret in self.secrets))

    def make(self, entry_id: str, subscriber_id: int, domain: str) -> str:
        """Deterministic: a retried delivery is the same message."""
        block = struct.pack(">QQ", entry_hash(entry_id), subscriber_id)
        return f"<{_encrypted(self._keys[0], block).hex()}@{domain}>"

    def candidates(self, text: str) -> list[tuple[int, int]]:
        """(issue hash, subscriber id) under each secret, from the first Message-ID of our
        shape in `text`; only one of them (if any) names a real send."""
        found = _OURS.search(text)
        if found is None:
            return []
        block = bytes.fromhex(found.group(1))
        read = []
        for key in self._keys:
            decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
            issue, subscriber = struct.unpack(">QQ", decryptor.update(block)
                                              + decryptor.finalize())
            read.append((int(issue), int(subscriber)))
        return read


def verified(ids: MessageIds, text: str, entry_ids: Iterable[str]) -> tuple[str, int] | None:
    """(entry id, subscriber id) when `text` carries a Message-ID we made for one of the
    given sends; None for a forged, mangled or foreign one."""
    by_hash = {entry_hash(entry): entry for entry in entry_ids}
    for issue, subscriber in ids.candidates(text):
        if issue in by_hash:
            return by_hash[issue], subscriber
    return None
