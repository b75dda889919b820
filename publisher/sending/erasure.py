"""Erasing a person: the subscriber store forgets them, the outbox blanks their
deliveries and the unverified returned-mail reports naming them are deleted, in the
caller's one transaction, so nothing is left half-erased."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from publisher.sending import outbox, returned_mail
from publisher.subscribers import store
from publisher.subscribers.addresses import Address


def erase_person(conn: Connection, address: Address, now: datetime) -> bool:
    """Everything publisher stores about the person, gone but a hash; False if unknown."""
    existing = store.find(conn, address)
    outbox.forget_person(conn, existing.id if existing else None, address.key)
    returned_mail.forget_reports(conn, address.key)
    return store.erase(conn, address, now)
