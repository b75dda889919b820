"""Message-IDs made with the kept per-thread encryptor are the ones a fresh AES cipher
gives, interleaving secrets and threads, and MessageIds still pickles and compares as
plain data (it travels to sender processes)."""

from __future__ import annotations

import hashlib
import pickle
import struct
from concurrent.futures import ThreadPoolExecutor

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from publisher.mail.message_ids import MessageIds, _key, verified

ENTRIES = ["tag:digest.example.org,2024-06-16:x", "tag:other", ""]


def fresh(secret: str, entry_id: str, subscriber_id: int, domain: str) -> str:
    issue = int.from_bytes(hashlib.sha256(entry_id.encode()).digest()[:8], "big")
    encryptor = Cipher(algorithms.AES(_key(secret)), modes.ECB()).encryptor()
    block = encryptor.update(struct.pack(">QQ", issue, subscriber_id)) + encryptor.finalize()
    return f"<{block.hex()}@{domain}>"


def check(ids: MessageIds, start: int) -> None:
    for subscriber in range(start, start + 3000):
        entry = ENTRIES[subscriber % len(ENTRIES)]
        made = ids.make(entry, subscriber, "example.org")
        assert made == fresh(ids.secrets[0], entry, subscriber, "example.org")
        assert verified(ids, made, ENTRIES) == (entry, subscriber)


def test_message_ids_are_what_a_fresh_cipher_makes_across_secrets_and_threads() -> None:
    many = [MessageIds(("first-secret",)), MessageIds(("second-secret", "first-secret"))]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: check(many[n % 2], n * 3000), range(8)))
    check(many[0], 2**40)


def test_message_ids_pickle_and_compare_as_plain_data() -> None:
    ids = MessageIds(("s1", "s0"))
    ids.make(ENTRIES[0], 1, "example.org")
    copy = pickle.loads(pickle.dumps(ids))
    assert copy == ids
    assert copy.make(ENTRIES[0], 7, "x.org") == ids.make(ENTRIES[0], 7, "x.org")
