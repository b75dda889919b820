"""Where clicks show: `publisher report` lists each link of a send with its clicks and
prefetches (`--json`: a `clicks` list), the console's send page lists them, and its
readership page ends with the most clicked links across issues."""

from __future__ import annotations

import html
import json
from datetime import date
from pathlib import Path

from publisher.analytics import counters, figures
from publisher.config import Config
from tests.admin.helpers import console_served, log_in
from tests.analytics.clicks import sent
from tests.analytics.helpers import with_clicks
from tests.cli import invoke_publisher
from tests.sending.helpers import write_config_file

SLUG = "2024-06-first-half"


def _counted(seed_config: Config, tmp_path: Path) -> tuple[Config, int, dict[int, str]]:
    config = with_clicks(seed_config)
    engine, send_id, _messages = sent(config, tmp_path / "Maildir", readers=1)
    counters.add_clicks(engine, [counters.LinkCount(date(2024, 6, 16), send_id, 2, 5, 3),
                                 counters.LinkCount(date(2024, 6, 17), send_id, 2, 1, 0),
                                 counters.LinkCount(date(2024, 6, 16), send_id, 1, 2, 0)])
    links = figures.send_links(engine, send_id)
    engine.dispose()
    return config, send_id, links


def test_the_report_lists_each_link_with_its_clicks_and_prefetches(
    seed_config: Config, tmp_path: Path,
) -> None:
    config, _send_id, links = _counted(seed_config, tmp_path)
    path = write_config_file(tmp_path / "cli", 2525, config.database_url)
    as_json = invoke_publisher("report", SLUG, "--json", config=path)
    assert as_json.exit_code == 0, as_json.output
    clicks = json.loads(as_json.output)["clicks"]
    assert [c["url"] for c in clicks] == [links[n] for n in sorted(links)]
    assert clicks[0] == {"url": links[1], "clicks": 2, "prefetches": 0}
    assert clicks[1] == {"url": links[2], "clicks": 6, "prefetches": 3}
    assert all(c["clicks"] == c["prefetches"] == 0 for c in clicks[2:])
    text = invoke_publisher("report", SLUG, config=path)
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert "link clicks (prefetches by link scanners apart):" in lines
    assert f"        6 clicks      3 prefetches  {links[2]}" in lines


def test_a_report_of_a_send_without_clicks_has_an_empty_clicks_list(
    seed_config: Config, tmp_path: Path,
) -> None:
    config = with_clicks(seed_config, on=False)
    sent(config, tmp_path / "Maildir", readers=1)[0].dispose()
    path = write_config_file(tmp_path / "cli", 2525, config.database_url)
    as_json = invoke_publisher("report", SLUG, "--json", config=path)
    assert json.loads(as_json.output)["clicks"] == []
    assert "link clicks" not in invoke_publisher("report", SLUG, config=path).output


def test_the_console_lists_a_sends_links_and_the_most_clicked_ones(
    seed_config: Config, tmp_path: Path,
) -> None:
    config, send_id, links = _counted(seed_config, tmp_path)
    with console_served(config) as site, site.client() as client:
        log_in(client)
        page = client.get(f"/admin/sends/{send_id}").text
        listing = client.get("/admin/readership").text
    assert (f'<tr data-link="2"><td>2</td><td class="reply">{html.escape(links[2])}</td>'
            "<td>6</td><td>3</td></tr>") in page
    assert f'<tr data-link="{len(links)}">' in page  # every link, clicked or not
    top = listing[listing.index('class="top-links"'):]
    assert top.index(html.escape(links[2])) < top.index(html.escape(links[1]))
    assert html.escape(links[3]) not in top  # never clicked: not among the most clicked
