"""User-Agent parsing on the strings aggregators document for their fetchers: the count
each reports, under its name; browsers, crawlers and desktop readers report none."""

from __future__ import annotations

import pytest

from publisher.analytics.user_agents import (
    OTHER_AGGREGATOR,
    AggregatorReport,
    aggregator_report,
    is_automated,
    is_crawler,
)

# As the aggregators document them (Inoreader's feed-fetcher page, NewsBlur's and Feedbin's
# fetchers as they appear in logs, PlainFeeder's about page).
DOCUMENTED = [
    ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 1234 subscribers; like "
     "FeedFetcher-Google)", "Feedly", 1234),
    ("Inoreader/1.0 (+http://www.inoreader.com/feed-fetcher; 3 subscribers; )", "Inoreader", 3),
    ("Mozilla/5.0 (compatible; inoreader.com; 56 subscribers)", "Inoreader", 56),
    ("NewsBlur Feed Fetcher - 17 subscribers - https://www.newsblur.com/site/6012345/llm "
     "(Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_3) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/64.0.3282.186 Safari/537.36)", "NewsBlur", 17),
    ("NewsBlur Feed Fetcher - 1 subscriber - https://newsblur.com", "NewsBlur", 1),
    ("Mozilla/5.0 (compatible; theoldreader.com; 12 subscribers; feed-id=a1b2c3)",
     "The Old Reader", 12),
    ("Feedbin feed-id:1 - 8 subscribers", "Feedbin", 8),
    ("PlainFeeder v0.0.1 (+http://plainfeeder.com/about ; Subscriber Count: 5)", "PlainFeeder", 5),
    ("Feedsubs/1.0 (+https://feedsubs.com/fetcher; 4 subscribers)", "Feedsubs", 4),
    ("Mozilla/5.0 (compatible; Feedspot/1.0 (+https://www.feedspot.com/fs/fetcher; "
     "like FeedFetcher-Google); 9 readers)", "Feedspot", 9),
    ("Mozilla/5.0 (compatible; Lektor; 21 readers)", "Lektor", 21),
    ("Mozilla/5.0 (14 subscribers)", OTHER_AGGREGATOR, 14),
]


@pytest.mark.parametrize(("user_agent", "name", "subscribers"), DOCUMENTED)
def test_an_aggregators_user_agent_gives_its_name_and_subscriber_count(
    user_agent: str, name: str, subscribers: int,
) -> None:
    assert aggregator_report(user_agent) == AggregatorReport(name, subscribers)
    assert is_automated(user_agent)


def test_counts_per_aggregator_add_up_over_the_documented_strings() -> None:
    per_name: dict[str, int] = {}
    for user_agent, _name, _count in DOCUMENTED:
        report = aggregator_report(user_agent)
        assert report is not None
        per_name[report.name] = per_name.get(report.name, 0) + report.subscribers
    assert per_name == {"Feedly": 1234, "Inoreader": 59, "NewsBlur": 18, "The Old Reader": 12,
                        "Feedbin": 8, "PlainFeeder": 5, "Feedsubs": 4, "Feedspot": 9,
                        "Lektor": 21, OTHER_AGGREGATOR: 14}


BROWSERS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
]


@pytest.mark.parametrize("user_agent", BROWSERS)
def test_a_browser_reports_nothing_and_is_a_person(user_agent: str) -> None:
    assert aggregator_report(user_agent) is None
    assert not is_automated(user_agent) and not is_crawler(user_agent)


@pytest.mark.parametrize("user_agent", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
])
def test_a_crawler_is_neither_a_reader_nor_a_person(user_agent: str) -> None:
    assert aggregator_report(user_agent) is None
    assert is_crawler(user_agent) and is_automated(user_agent)


@pytest.mark.parametrize("user_agent", [
    "NetNewsWire (RSS Reader; https://netnewswire.com/)", "curl/8.5.0",
    "python-requests/2.32.3", "Go-http-client/2.0", "",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
])
def test_feed_readers_and_scripts_are_not_page_views_and_report_no_count(
    user_agent: str,
) -> None:
    assert aggregator_report(user_agent) is None
    assert is_automated(user_agent)
