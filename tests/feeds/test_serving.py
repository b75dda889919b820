"""The real app over HTTP: content types, strong validators, 304s, gzip, no hidden files."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from publisher.config import Config, Secrets
from publisher.site.build import build_site
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.conftest import LiveServer

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def server(seed_config: Config) -> Iterator[LiveServer]:
    build_site(seed_config, NOW)
    with LiveServer(create_app(WebState(seed_config, Secrets(secret_keys=("k" * 32,))))) as live:
        yield live


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/feed.atom", "application/atom+xml"), ("/feed.rss", "application/rss+xml"),
     ("/feed.json", "application/feed+json"), ("/", "text/html"),
     ("/issues/2024-06-first-half/", "text/html"), ("/sitemap.xml", "application/xml"),
     ("/tags/llm/feed.atom", "application/atom+xml"), ("/style.css", "text/css")],
)
def test_each_resource_is_served_with_its_content_type_then_304_on_revalidation(
    server: LiveServer, path: str, content_type: str
) -> None:
    with web_client.Client(base_url=server.url) as client:
        first = client.get(path, headers={"Accept-Encoding": "identity"})
        assert first.status_code == 200
        assert first.headers["content-type"].startswith(content_type)
        etag = first.headers["etag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        assert "max-age=" in first.headers["cache-control"]
        by_etag = client.get(path, headers={"If-None-Match": etag,
                                            "Accept-Encoding": "identity"})
        assert by_etag.status_code == 304 and by_etag.content == b""
        by_date = client.get(path, headers={"If-Modified-Since": first.headers["last-modified"],
                                            "Accept-Encoding": "identity"})
        assert by_date.status_code == 304


def test_feeds_are_gzipped_for_clients_that_ask_with_a_distinct_etag(server: LiveServer) -> None:
    with web_client.Client(base_url=server.url) as client:
        plain = client.get("/feed.atom", headers={"Accept-Encoding": "identity"})
        zipped = client.get("/feed.atom", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == plain.content  # httpx decodes; the bytes are the same feed
    assert zipped.headers["etag"] != plain.headers["etag"]
    assert int(zipped.headers["content-length"]) < len(gzip.compress(plain.content)) + 64


def test_a_changed_etag_gets_the_full_response(server: LiveServer) -> None:
    response = web_client.get(server.url + "/feed.atom", headers={"If-None-Match": '"stale"'})
    assert response.status_code == 200 and response.content


@pytest.mark.parametrize("path", ["/.cache/manifest.json", "/../publisher.toml", "/nope.html",
                                  "/issues/%2e%2e/%2e%2e/publisher.toml"])
def test_hidden_missing_and_escaping_paths_are_404(server: LiveServer, path: str) -> None:
    assert web_client.get(server.url + path).status_code == 404


def test_a_directory_without_slash_redirects(server: LiveServer) -> None:
    response = web_client.get(server.url + "/issues/2024-06-first-half")
    assert response.status_code == 301
    assert response.headers["location"] == "/issues/2024-06-first-half/"
