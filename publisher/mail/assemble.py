"""Building final messages (personalise + DKIM), one recipient at a time.

Each message comes out as it is written after DATA (`wire.Outgoing`): the prepared pieces
were dot-stuffed once per send, so per recipient only the slot values are stuffed, and the
DKIM-Signature headers, computed from the slot values and what the send's signing plan
settled once (`dkim_prepared`), go in front in the same join.

A Builder holds a token signer that does not pickle, so each sender process makes its own
with `make_builder` from the same plain parts. DKIM keys travel as the PEM bytes read from
the file or environment (never re-encoded) and each process loads them once to sign.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from publisher.clock import utc_now
from publisher.config import Secrets
from publisher.mail.dkim_prepared import PreparedSigner
from publisher.mail.dkim_signing import DkimKey, load_key
from publisher.mail.message_ids import MessageIds
from publisher.mail.mime import Personaliser, PreparedMessage, Recipient, SendContext
from publisher.mail.wire import Outgoing
from publisher.tokens import TokenSigner

KeySpec = tuple[str, str, bytes]  # selector, domain, PEM as read
Row = tuple[int, int, str, str]  # delivery id, subscriber id, email, name
Built = tuple[int, Outgoing | None, str]  # delivery id, message (None on error), error


def key_specs(keys: Sequence[DkimKey]) -> tuple[KeySpec, ...]:
    """The keys as picklable data: their PEM as read, not a re-encoding of the loaded key."""
    return tuple((k.selector, k.domain, k.pem) for k in keys)


@lru_cache(maxsize=16)
def _signer(specs: tuple[KeySpec, ...], edition: str = "") -> PreparedSigner | None:
    """The keys' signer for one edition of a send ("": the original): each language
    variant keeps its own signing plans (see publisher.mail.dkim_prepared) and the caches
    of the general signer behind them, which rows alternating between variants would
    otherwise relearn at every row."""
    if not specs:
        return None
    keys = [load_key(pem, selector, domain, f"{selector}._domainkey.{domain}")
            for selector, domain, pem in specs]
    return PreparedSigner(keys, utc_now)


@dataclass(frozen=True)
class Builder:
    """Turns claimed rows into final message bytes: each row in the edition its language
    names (a translation's prepared message, else the original's)."""

    prepared: PreparedMessage
    personaliser: Personaliser
    dkim: tuple[KeySpec, ...] = field(default=(), repr=False)  # private keys: keep out of logs
    translations: Mapping[str, PreparedMessage] = field(default_factory=dict)

    def build(self, row: Row, language: str | None = None) -> Outgoing:
        """The row's message in the edition `language` names (None: the original)."""
        _delivery_id, subscriber_id, email, name = row
        values = self.personaliser.values(Recipient(subscriber_id, email, name))
        edition = language if language is not None and language in self.translations else ""
        sign = _signer(self.dkim, edition)
        prepared = self.translations[edition] if edition else self.prepared
        message, encoded = prepared.chosen(values)
        if sign is None:
            return message.written(encoded)
        return message.written(encoded, sign.headers(message, encoded))

    def attempt(self, row: Row, language: str | None = None) -> Built:
        """The row's message, or None and why: a bad address or name fails its own row."""
        try:
            return row[0], self.build(row, language), ""
        except Exception as exc:  # noqa: BLE001 - reported per row as "not sent: …"
            return row[0], None, f"not sent: {exc}"

    def build_batch(self, rows: Sequence[tuple[Row, str | None]]) -> list[Built]:
        """Rows with the language of their edition; a bad address or name fails its own
        row, never the batch."""
        return [self.attempt(row, language) for row, language in rows]


def make_builder(prepared: PreparedMessage, context: SendContext, domain: str,
                 dkim: tuple[KeySpec, ...], secrets: Secrets,
                 translations: Mapping[str, PreparedMessage] | None = None) -> Builder:
    """The send's Builder from plain data (a sender process makes its own from the same
    parts, since the token signer inside a Personaliser does not pickle); `translations`
    are the prepared messages of the translations, by language."""
    personaliser = Personaliser(context, TokenSigner(secrets.secret_keys), domain,
                                MessageIds(secrets.secret_keys))
    return Builder(prepared, personaliser, dkim, dict(translations or {}))
