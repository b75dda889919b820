"""What a User-Agent says about its fetcher: the subscriber count a feed aggregator reports,
and whether it is a crawler or script rather than a person's browser. Pure functions.

Aggregators that fetch a feed once for many readers say how many in their User-Agent
("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 1234 subscribers; )", "NewsBlur Feed
Fetcher - 7 subscribers - https://www.newsblur.com/site/…"). Only the aggregator's NAME
(one of KNOWN_AGGREGATORS, or the product token of another that reports a count) and the
count leave this module; the User-Agent string itself is never kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (name shown, pattern that recognises it), looked for in this order.
KNOWN_AGGREGATORS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Feedly", re.compile(r"feedly", re.IGNORECASE)),
    ("Inoreader", re.compile(r"inoreader", re.IGNORECASE)),
    ("NewsBlur", re.compile(r"newsblur", re.IGNORECASE)),
    ("The Old Reader", re.compile(r"theoldreader", re.IGNORECASE)),
    ("Feedbin", re.compile(r"feedbin", re.IGNORECASE)),
    ("BazQux", re.compile(r"bazqux", re.IGNORECASE)),
    ("Netvibes", re.compile(r"netvibes", re.IGNORECASE)),
    ("Feedspot", re.compile(r"feedspot", re.IGNORECASE)),
    ("PlainFeeder", re.compile(r"plainfeeder", re.IGNORECASE)),
)
_COUNT = re.compile(r"(\d{1,9})\s+(?:subscribers?|readers?)\b|subscriber\s+count:\s*(\d{1,9})",
                    re.IGNORECASE)
# The first product token of another aggregator: "Feedsubs/1.0 (…)" -> Feedsubs; inside
# "(compatible; name; …)" when the product is a browser's Mozilla/5.0.
_PRODUCT = re.compile(r"^([A-Za-z][A-Za-z0-9.\-]{0,39})[/ ]")
_COMPATIBLE = re.compile(r"\(compatible;\s*([A-Za-z][A-Za-z0-9.\-]{0,39})", re.IGNORECASE)
OTHER_AGGREGATOR = "other aggregator"
_AUTOMATED = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|archiver|preview|monitor|scanner|headless|lighthouse"
    r"|^curl/|^wget/|python|externalhit|go-http-client|^java/|okhttp|libwww|httpclient|axios|node-fetch"
    r"|feed|rss|atom|reader", re.IGNORECASE)


@dataclass(frozen=True)
class AggregatorReport:
    """An aggregator's name and the subscribers it says it fetches for."""

    name: str
    subscribers: int


def aggregator_report(user_agent: str) -> AggregatorReport | None:
    """The count an aggregator reports in its User-Agent, with its name; None when the
    User-Agent reports no count ("N subscribers", "N readers", "Subscriber Count: N")."""
    found = _COUNT.search(user_agent)
    if found is None:
        return None
    count = int(found.group(1) or found.group(2))
    return AggregatorReport(aggregator_name(user_agent), count)


def aggregator_name(user_agent: str) -> str:
    """A known aggregator's name, else the product the User-Agent names, else a placeholder."""
    for name, pattern in KNOWN_AGGREGATORS:
        if pattern.search(user_agent):
            return name
    compatible = _COMPATIBLE.search(user_agent)
    if compatible is not None:
        return compatible.group(1)
    product = _PRODUCT.match(user_agent)
    if product is not None and product.group(1).lower() != "mozilla":
        return product.group(1)
    return OTHER_AGGREGATOR


def is_automated(user_agent: str) -> bool:
    """Whether the fetcher is a program rather than a person's browser: no User-Agent, a
    crawler, a link previewer, a script's HTTP library, a feed reader or aggregator."""
    return (not user_agent.strip() or not user_agent.startswith("Mozilla/")
            or _AUTOMATED.search(user_agent) is not None or _COUNT.search(user_agent) is not None)


def is_crawler(user_agent: str) -> bool:
    """A search engine's crawler or similar robot: its feed fetches are not a reader's."""
    return re.search(r"bot\b|bot/|crawl|spider|slurp|archiver", user_agent,
                     re.IGNORECASE) is not None
