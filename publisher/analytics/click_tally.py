"""From one click on a counted link to the counters it moves, in memory: the only place the
address of a click is looked at, and the keeper of the prefetch salt.

Rules. A click on link L of send S at time t is a *prefetch* when both hold:
1. t is at most `prefetch_seconds` after the latest delivery of S recorded sent so far
   (deliveries.sent_at), i.e. it comes during the send's delivery burst or just after;
2. L of S was already fetched, during such a burst, from the same network: the same /24 of
   an IPv4 address, the same /48 of an IPv6 one.
Every other click is a click. The network is kept only as an HMAC under a salt drawn at
random in memory, per (S, L); salt and HMACs are dropped every SALT_SECONDS (and never
written anywhere), so a network can no longer be recognised once they are. Counts wait here
until the web app's flusher writes them (publisher.analytics.counters.add_clicks), once a
second. `KnownLinks` is what the click route remembers of the database between requests.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from publisher.analytics.counters import LinkCount

SALT_BYTES = 32
SALT_SECONDS = 300  # the prefetch salt dies within five minutes
IPV4_PREFIX = 24
IPV6_PREFIX = 48


def network_of(address: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of an address; the address itself if it is not
    one (a Unix socket's peer)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def in_burst(at: datetime, last_sent: datetime | None, window: timedelta) -> bool:
    """Whether a click at `at` comes within `window` of the send's latest delivery."""
    return last_sent is not None and at - last_sent <= window


class ClickTally:
    """Counts clicks and prefetches per (day, send, link) until drained; holds the salt."""

    def __init__(self, zone: ZoneInfo, prefetch_seconds: int) -> None:
        self.zone = zone
        self.window = timedelta(seconds=prefetch_seconds)
        self._lock = threading.Lock()
        self._counts: dict[tuple[date, int, int], list[int]] = defaultdict(lambda: [0, 0])
        self._salt = b""
        self._salt_until: datetime | None = None
        self._seen: dict[tuple[int, int], set[bytes]] = {}

    def add(self, send_id: int, link: int, at: datetime, address: str,
            last_sent: datetime | None) -> bool:
        """Count one click; whether it was a prefetch."""
        prefetch = in_burst(at, last_sent, self.window) and self._seen_before(
            send_id, link, at, address)
        with self._lock:
            self._counts[(at.astimezone(self.zone).date(), send_id, link)][prefetch] += 1
        return prefetch

    def _seen_before(self, send_id: int, link: int, at: datetime, address: str) -> bool:
        """Whether the link was fetched from this address's network before (under the
        current salt); remembers that it now has."""
        network = network_of(address).encode()
        with self._lock:
            if self._salt_until is None or at >= self._salt_until:
                self._salt, self._seen = secrets.token_bytes(SALT_BYTES), {}
                self._salt_until = at + timedelta(seconds=SALT_SECONDS)
            mark = hmac.new(self._salt, network, hashlib.sha256).digest()[:16]
            seen = self._seen.setdefault((send_id, link), set())
            if mark in seen:
                return True
            seen.add(mark)
            return False

    def drained(self) -> list[LinkCount]:
        """The counts since the last drain, forgotten here."""
        with self._lock:
            counts, self._counts = self._counts, defaultdict(lambda: [0, 0])
        return [LinkCount(day, send_id, link, clicks, prefetches)
                for (day, send_id, link), (clicks, prefetches) in counts.items()]

    def put_back(self, counts: list[LinkCount]) -> None:
        """Counts a write could not store, to be written with the next ones."""
        with self._lock:
            for count in counts:
                kept = self._counts[(count.day, count.send_id, count.link)]
                kept[0] += count.clicks
                kept[1] += count.prefetches


class KnownLinks:
    """What the click route remembers between requests: verified tokens, links' URLs, and
    the latest sent time of each send clicked (all derived from the database, none of them
    about a reader)."""

    def __init__(self) -> None:
        self.tokens: dict[str, tuple[int, int]] = {}
        self.targets: dict[tuple[int, int], str] = {}
        self.last_sent: dict[int, datetime | None] = {}
        self.clicked: set[int] = set()
