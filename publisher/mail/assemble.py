"""Building a batch of final messages (personalise + DKIM), in this process or a pool.

Each message comes out as it is written after DATA (`wire.Outgoing`): the prepared pieces
were dot-stuffed once per send, so per recipient only the slot values are stuffed, and the
DKIM-Signature headers, computed over the unstuffed message, go in front.

A Builder is plain data (picklable), so batches can be built in worker processes on every
core while the event loop keeps the SMTP connections busy. DKIM keys travel as the PEM
bytes read from the file or environment (never re-encoded) and each process loads them
once to sign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from publisher.clock import utc_now
from publisher.mail.dkim_signing import DkimKey, Signer, load_key, make_header_signer
from publisher.mail.mime import Personaliser, PreparedMessage, Recipient
from publisher.mail.wire import Outgoing, with_headers

KeySpec = tuple[str, str, bytes]  # selector, domain, PEM as read
Row = tuple[int, int, str, str]  # delivery id, subscriber id, email, name
Built = tuple[int, Outgoing | None, str]  # delivery id, message (None on error), error


def key_specs(keys: Sequence[DkimKey]) -> tuple[KeySpec, ...]:
    """The keys as picklable data: their PEM as read, not a re-encoding of the loaded key."""
    return tuple((k.selector, k.domain, k.pem) for k in keys)


@lru_cache(maxsize=4)
def _signer(specs: tuple[KeySpec, ...]) -> Signer | None:
    if not specs:
        return None
    keys = [load_key(pem, selector, domain, f"{selector}._domainkey.{domain}")
            for selector, domain, pem in specs]
    return make_header_signer(keys, utc_now)


@dataclass(frozen=True)
class Builder:
    """Turns claimed rows into final message bytes."""

    prepared: PreparedMessage
    personaliser: Personaliser
    dkim: tuple[KeySpec, ...] = field(default=(), repr=False)  # private keys: keep out of logs

    def build(self, row: Row) -> Outgoing:
        delivery_id, subscriber_id, email, name = row
        values = self.personaliser.values(Recipient(subscriber_id, email, name))
        sign = _signer(self.dkim)
        outgoing, message = self.prepared.outgoing(values, with_message=sign is not None)
        return outgoing if sign is None else with_headers(sign(message), outgoing)

    def build_batch(self, rows: Sequence[Row]) -> list[Built]:
        """A bad address or name fails its own row, never the batch."""
        built: list[Built] = []
        for row in rows:
            try:
                built.append((row[0], self.build(row), ""))
            except Exception as exc:  # noqa: BLE001 - reported per row as "not sent: …"
                built.append((row[0], None, f"not sent: {exc}"))
        return built
