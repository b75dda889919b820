"""The click tests' shared steps: a real send of the seed issue through a real SMTP catcher,
and the app served on loopback with its lifespan on (so the click flusher runs)."""

from __future__ import annotations

import re
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy.engine import Engine

from publisher.analytics import figures
from publisher.config import Config
from publisher.dev.catcher import Catcher
from publisher.sending.drain import DrainOptions
from publisher.sending.send_issue import ready, run_send, start
from tests.conftest import SEED_ISSUE, LiveServer
from tests.sending.helpers import SECRETS, T0, add_confirmed, database, smtp_site

CLICK_LINK = re.compile(r'href="(http://127\.0\.0\.1:8000/l/[^"]+)"')


def sent(config: Config, maildir: Path, readers: int = 2) -> tuple[Engine, int,
                                                                   list[EmailMessage]]:
    """The seed issue sent (at T0) to `readers` confirmed readers; the engine, the send and
    the messages as received."""
    with Catcher(maildir) as catcher:
        config = smtp_site(config, catcher.port)
        engine = database(config)
        add_confirmed(engine, readers)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        run_send(engine, config, SECRETS, send_id, lambda: T0, DrainOptions())
        received = [message_from_bytes(raw, policy=policy.default) for raw in catcher.messages()]
    return engine, send_id, [m for m in received if isinstance(m, EmailMessage)]


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def served(app: object) -> LiveServer:
    """A live server running the app's lifespan (its click flusher)."""
    live = LiveServer(app)
    live.server.config.lifespan = "on"
    return live


def clicks_reach(engine: Engine, send_id: int, wanted: dict[str, tuple[int, int]],
                 seconds: float = 10.0) -> dict[str, tuple[int, int]]:
    """The (clicks, prefetches) of each clicked link once they are `wanted` (or the last
    seen after `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        found = {c.url: (c.clicks, c.prefetches) for c in figures.clicks_of_send(engine, send_id)
                 if c.clicks or c.prefetches}
        if found == wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
