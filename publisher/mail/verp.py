"""VERP envelope senders: `bounces+d<delivery id>-<hmac>@domain`, one per delivery, so a
bounce names its delivery even when the report is mangled. Pure: text in, ids out.

The address is signed (HMAC under any of our secrets), so a stranger cannot make one that
names a delivery; `delivery_from_verp` accepts only an address one of our keys signed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

VERP_PREFIX = "bounces"
_VERP = re.compile(rf"{VERP_PREFIX}\+d(\d+)-([0-9a-f]{{16}})@", re.IGNORECASE)


def _verp_mac(secret: str, delivery_id: int) -> str:
    digest = hmac.new(secret.encode(), f"publisher.verp.v1:{delivery_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def verp_address(secret: str, delivery_id: int, domain: str) -> str:
    """bounces+d<id>-<hmac>@domain: short, lower-case, and unforgeable."""
    return f"{VERP_PREFIX}+d{delivery_id}-{_verp_mac(secret, delivery_id)}@{domain}"


def delivery_from_verp(secrets: Iterable[str], text: str) -> int | None:
    """The delivery id of the first VERP address in `text` that one of `secrets` signed."""
    match = _VERP.search(text)
    if not match:
        return None
    delivery_id, mac = int(match.group(1)), match.group(2).lower()
    if any(hmac.compare_digest(mac, _verp_mac(s, delivery_id)) for s in secrets):
        return delivery_id
    return None
