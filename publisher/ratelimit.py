"""Token buckets (the sender's global message rate, the web app's per-key form limits), the
login's growing delays, and the key a client address is limited by.

Rule: a limit keys a client by `client_key` (an IPv6 address by its /64, the block one
subscriber line is given), never by the full IPv6 address.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate` tokens per `per` seconds, holding at most `burst`; rate 0 means unlimited."""

    rate: float
    per: float
    burst: float
    clock: Callable[[], float]
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst
        self.stamp = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate / self.per)
        self.stamp = now

    def try_take(self, amount: float = 1.0) -> bool:
        if self.rate <= 0:
            return True
        self._refill()
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def wait_time(self, amount: float = 1.0) -> float:
        """Seconds until `amount` tokens are available (0 when they are)."""
        if self.rate <= 0:
            return 0.0
        self._refill()
        missing = amount - self.tokens
        return max(0.0, missing * self.per / self.rate)


class AsyncRateLimiter:
    """All buckets must agree before a message goes out (per second and per hour)."""

    def __init__(self, buckets: list[TokenBucket]) -> None:
        self.buckets = [b for b in buckets if b.rate > 0]
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self.buckets:
            return
        async with self.lock:
            while True:
                wait = max(b.wait_time() for b in self.buckets)
                if wait <= 0:
                    for bucket in self.buckets:
                        bucket.try_take()
                    return
                await asyncio.sleep(wait)


class KeyedLimiter:
    """One bucket per key (IP address, email address), pruned when full again."""

    def __init__(self, rate: float, per: float, burst: float, clock: Callable[[], float],
                 max_keys: int = 100_000) -> None:
        self.rate, self.per, self.burst, self.clock = rate, per, burst, clock
        self.max_keys = max_keys
        self.buckets: dict[str, TokenBucket] = {}

    def allow(self, key: str) -> bool:
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max_keys:
                self._prune()
            bucket = TokenBucket(self.rate, self.per, self.burst, self.clock)
            self.buckets[key] = bucket
        return bucket.try_take()

    def wait_time(self, key: str) -> float:
        """Seconds until `key` may go again (0 when it may now)."""
        bucket = self.buckets.get(key)
        return bucket.wait_time() if bucket is not None else 0.0

    def _prune(self) -> None:
        full = [k for k, b in self.buckets.items() if b.wait_time(self.burst) == 0]
        for key in full or list(self.buckets)[: self.max_keys // 2]:
            del self.buckets[key]


IPV6_PREFIX = 64  # one home or server line gets a whole /64


def client_key(host: str) -> str:
    """The key a client address is limited by: an IPv4 address as it is (also written as
    IPv4-mapped IPv6), an IPv6 address by its /64; anything else (no address) as given."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


@dataclass
class _Failures:
    count: int
    last: float


@dataclass
class FailureDelay:
    """Per key, a delay that grows with each failure and never becomes a block: `free`
    failures cost nothing, then each next attempt waits `first` seconds after the last
    failure, doubling per failure up to `longest`. A key quiet for `forget` seconds starts
    afresh; `forgive` clears it (a success); `refund` takes back one failure."""

    free: int
    first: float
    longest: float
    clock: Callable[[], float]
    forget: float = 3600.0
    max_keys: int = 100_000
    failures: dict[str, _Failures] = field(default_factory=dict)

    def delay(self, count: int) -> float:
        """Seconds an attempt waits after the `count`th failure in a row."""
        if count < self.free:
            return 0.0
        return float(min(self.longest, self.first * 2 ** min(count - self.free, 62)))

    def wait(self, key: str) -> float:
        """Seconds before `key` may try again (0 now)."""
        record = self._current(key)
        if record is None:
            return 0.0
        return max(0.0, record.last + self.delay(record.count) - self.clock())

    def fail(self, key: str) -> None:
        record = self._current(key)
        if record is None:
            if len(self.failures) >= self.max_keys:
                self._prune()
            self.failures[key] = _Failures(1, self.clock())
            return
        record.count += 1
        record.last = self.clock()

    def refund(self, key: str) -> None:
        record = self.failures.get(key)
        if record is not None:
            record.count -= 1
            if record.count <= 0:
                del self.failures[key]

    def forgive(self, key: str) -> None:
        self.failures.pop(key, None)

    def _current(self, key: str) -> _Failures | None:
        record = self.failures.get(key)
        if record is not None and self.clock() - record.last >= self.forget:
            del self.failures[key]
            return None
        return record

    def _prune(self) -> None:
        now = self.clock()
        stale = [k for k, r in self.failures.items() if now - r.last >= self.forget]
        for key in stale or list(self.failures)[: self.max_keys // 2]:
            del self.failures[key]
