"""The console's send page says who a send was for, in the site's language."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from publisher.config import Config
from publisher.sending.send_issue import Ready, ready, start
from tests.admin.helpers import console_served, log_in, with_language
from tests.audience.helpers import random_subscribers, with_tags
from tests.conftest import SEED_ISSUE


def test_the_send_page_shows_the_audience_expression_or_everyone(
        seed_config: Config, tmp_path: Path) -> None:
    config = with_tags(with_language(seed_config, "en"), f"sqlite:///{tmp_path / 'p.db'}")
    with console_served(config) as site:
        random_subscribers(site.engine, 50)
        item = ready(site.config, SEED_ISSUE)
        narrowed = start(site.engine, site.config, item, site.clock(),
                         audience="中文  and not (weekly-off)")
        everyone = start(site.engine, site.config,
                         Ready(item.issue, replace(item.rendered, slug="everyone")),
                         site.clock())
        with site.client() as client:
            log_in(client)
            page = client.get(f"/admin/sends/{narrowed}").text
            assert ('<dt>Audience</dt><dd data-field="audience"><code>中文 and not weekly-off'
                    '</code></dd>') in page
            page = client.get(f"/admin/sends/{everyone}").text
            assert ('<dt>Audience</dt><dd data-field="audience">every confirmed subscriber'
                    '</dd>') in page


def test_the_audience_label_is_chinese_on_a_chinese_site(
        seed_config: Config, tmp_path: Path) -> None:
    config = with_tags(with_language(seed_config, "zh-CN"), f"sqlite:///{tmp_path / 'p.db'}")
    with console_served(config) as site:
        random_subscribers(site.engine, 20)
        send_id = start(site.engine, site.config, ready(site.config, SEED_ISSUE),
                        site.clock(), audience="llm")
        with site.client() as client:
            log_in(client)
            page = client.get(f"/admin/sends/{send_id}").text
            assert '<dt>受众</dt><dd data-field="audience"><code>llm</code></dd>' in page
