"""A console site with two webhooks for the console's webhooks page: a receiver on loopback
that refuses every `confirmed` event (410) and takes the rest, and a second endpoint with a
long URL that nothing delivers to (its rows stay pending)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from publisher.config import Config
from publisher.sending import webhooks
from tests.admin.helpers import Served, console_served
from tests.sending.helpers import add_confirmed
from tests.webhooks.helpers import with_webhooks
from tests.webhooks.receiver import Receiver

FAR = ("https://crm.example.org/hooks/publisher/a-very-long-path-that-an-operator-pasted-"
       "from-the-receiver-settings-page?account=1234567890")
READERS = 3


def refuse_confirmed(event: dict[str, object], seen: int) -> int:
    return 410 if event["type"] == "confirmed" else 200


@contextmanager
def webhooks_console(config: Config) -> Iterator[tuple[Served, Receiver]]:
    """The console served with both endpoints, READERS confirmed readers added (one
    `confirmed` event each to each endpoint) and the receiver's deliveries made once."""
    with Receiver(refuse_confirmed) as receiver:
        hooked = with_webhooks(config, config.database_url, receiver.url, FAR)
        with console_served(hooked) as site:
            webhooks.Deliverer(site.engine, site.config, site.clock).sync()
            add_confirmed(site.engine, READERS)
            near = site.config.settings.webhooks[:1]
            only_near = replace(site.config, settings=site.config.settings.model_copy(
                update={"webhooks": near}))
            webhooks.Deliverer(site.engine, only_near, site.clock).run(None, lambda: 0.0)
            site.clock.advance(minutes=5)
            yield site, receiver
