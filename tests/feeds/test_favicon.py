"""The site's icon: `publisher serve` answers /favicon.ico before any build, the build copies
it to the root of the published tree, and the archive, the reader's pages and the console
link it (a browser asks every site for one; a 404 on each page view is noise in the logs)."""

from __future__ import annotations

import re
import struct
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

from publisher.config import Config, Secrets
from publisher.site.archive import FAVICON
from publisher.site.build import build_site
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.conftest import DATA, REPO, LiveServer

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SHIPPED = REPO / "templates" / FAVICON
LINK = '<link rel="icon" href="/favicon.ico">'


def with_issues(config: Config, folder: Path) -> Config:
    paths = config.settings.paths.model_copy(update={"issues": str(folder)})
    return replace(config, settings=config.settings.model_copy(update={"paths": paths}))


def test_the_shipped_icon_is_a_small_ico_holding_a_32_px_png() -> None:
    data = SHIPPED.read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    width, height, *_, size, offset = struct.unpack("<BBBBHHII", data[6:22])
    assert (reserved, kind, count, width, height) == (0, 1, 1, 32, 32)
    assert data[offset:offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + size == len(data)
    assert len(data) < 1024


def test_serve_answers_favicon_before_a_build_and_the_build_copies_it(
        seed_config: Config) -> None:
    config = with_issues(seed_config, DATA / "console")
    secrets = Secrets(secret_keys=("k" * 32,))
    with LiveServer(create_app(WebState(config, secrets))) as live, web_client.Client(
            base_url=live.url) as client:
        unbuilt = client.get("/favicon.ico")
        assert unbuilt.status_code == 200 and unbuilt.content == SHIPPED.read_bytes()
        assert unbuilt.headers["content-type"] == "image/x-icon"
        assert "max-age=86400" in unbuilt.headers["cache-control"]
        assert client.get("/favicon.ico", headers={
            "If-None-Match": unbuilt.headers["etag"]}).status_code == 304
        assert LINK in client.get("/admin/login").text  # the console
        assert LINK in client.get("/subscribe").text  # the reader's pages
        build_site(config, NOW)
        assert (config.output_dir / FAVICON).read_bytes() == SHIPPED.read_bytes()
        for page in ("/", "/issues/2024-07-short/"):  # archive links are relative
            found = re.search(r'<link rel="icon" href="([^"]+)">', client.get(page).text)
            assert found and urljoin(page, found.group(1)) == "/favicon.ico", page
        assert client.get("/favicon.ico").content == SHIPPED.read_bytes()
