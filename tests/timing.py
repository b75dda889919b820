"""Timing comparisons that hold on a busy machine: two kinds of request timed in pairs whose
order alternates (so a drift in load falls on both), compared by the median of the pairs'
differences against a floor, or a twentieth of the typical time when load has stretched it."""

from __future__ import annotations

import statistics
from collections.abc import Callable


def timed_in_pairs(rounds: int, first: Callable[[int], float],
                   second: Callable[[int], float]) -> tuple[list[float], list[float]]:
    """Each round times `first(n)` and `second(n)` (each returns its seconds), the two in
    turn first."""
    firsts: list[float] = []
    seconds: list[float] = []
    for n in range(rounds):
        if n % 2:
            seconds.append(second(n))
            firsts.append(first(n))
        else:
            firsts.append(first(n))
            seconds.append(second(n))
    return firsts, seconds


def gap_and_bound_ms(firsts: list[float], seconds: list[float],
                     floor_ms: float) -> tuple[float, float]:
    """The median difference of the pairs, and what it must stay under: `floor_ms`, or a
    twentieth of the median time when the machine is so busy that every request is slow."""
    gap = statistics.median(a - b for a, b in zip(firsts, seconds, strict=True)) * 1000
    typical = statistics.median(firsts + seconds) * 1000
    return gap, max(floor_ms, typical / 20)
