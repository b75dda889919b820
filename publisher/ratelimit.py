"""Token buckets: the sender's global message rate and the web app's per-key form limits."""

from __future__ import annotations

import asyncio
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

    def _prune(self) -> None:
        full = [k for k, b in self.buckets.items() if b.wait_time(self.burst) == 0]
        for key in full or list(self.buckets)[: self.max_keys // 2]:
            del self.buckets[key]
