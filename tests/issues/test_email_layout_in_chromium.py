"""What a phone shows of hard content: wide tables, long code lines and links, at 375 px."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.config import Config
from publisher.content.issues import read_issue
from publisher.dev.screenshot import PageShot, shoot
from publisher.mail.render import render_email
from publisher.site.build import email_paths, write_if_changed

pytestmark = pytest.mark.chromium
PHONE = 375

LONG_CALL = ("result = some_function_with_a_long_name(argument_number_one=1, "
             "argument_number_two=2, argument_number_three=3)")
WIDE_CONTENT = f"""\
A table with more columns than a phone has room for:

| model | parameters | context | benchmark-one | benchmark-two | licence | released |
| --- | ---: | ---: | ---: | ---: | --- | --- |
| Llama-3-8B-Instruct | 8,030,261,248 | 8192 | 68.4 | 79.6 | llama3-community | 2024-04-18 |
| Mixtral-8x22B-Instruct-v0.1 | 140,620,634,112 | 65536 | 77.8 | 88.4 | apache-2.0 | 2024-04-17 |

A long code line:

```python
{LONG_CALL}
```

```
a_single_unbroken_token_that_is_much_longer_than_any_phone_screen_is_wide_at_all_0123456789
```

## After the table

The rest of the issue.
"""

LINK_WORDS = "Wikipedia encyclopedia documentation"
LINKS_IN_CHINESE_TEXT = "\n".join(
    f"{'这是一段中文文字' * (n % 5 + 1)}，参见[{LINK_WORDS}](https://en.wikipedia.org/wiki/Large_language_model)。"
    for n in range(12)
) + """

A long URL as a link: <https://example.org/a/very/long/path/that/does/not/fit/on/one/line/of/a/phone/screen/at/all>

## Section

The rest of the issue.
"""


def write_issue(folder: Path, title: str, body: str) -> Path:
    path = folder / "issue.md"
    path.write_text(
        f'---\ntitle: "{title}"\ndate: 2024-06-16T09:00:00+08:00\nlanguage: zh-CN\n---\n\n{body}',
        encoding="utf-8")
    return path


def shoot_email(config: Config, issue_file: Path, out: Path, texts: list[str]) -> PageShot:
    rendered = render_email(read_issue(issue_file), config)
    html_path, _ = email_paths(out, rendered.slug)
    write_if_changed(html_path, rendered.html)
    [shot] = shoot(html_path.as_uri(), out / "shots", [PHONE], texts=texts)
    return shot


def test_wide_tables_and_long_code_lines_stay_inside_the_card_at_375px(
    seed_config: Config, tmp_path: Path
) -> None:
    title = "Wide tables and long code lines"
    issue = write_issue(tmp_path, title, WIDE_CONTENT)
    shot = shoot_email(seed_config, issue, tmp_path, [title, "After the table", "The rest"])
    assert shot.scroll_width <= PHONE, f"the page scrolls sideways: {shot.scroll_width}px"
    # The card clips what overflows it, so the scroll width alone would not tell: the title
    # and the headings after the table must end inside the screen.
    hidden = [text for text, visible in shot.visible_texts.items() if not visible]
    assert hidden == [], f"cut off at {PHONE}px"
    assert shot.path.is_relative_to(tmp_path) and shot.path.stat().st_size > 10_000


def test_words_in_links_wrap_whole_while_urls_may_break_at_375px(
    seed_config: Config, tmp_path: Path
) -> None:
    title = "Links in a Chinese paragraph"
    issue = write_issue(tmp_path, title, LINKS_IN_CHINESE_TEXT)
    shot = shoot_email(seed_config, issue, tmp_path, [title, "Section"])
    assert shot.words_split_in_links == []
    assert shot.scroll_width <= PHONE, "the long URL widened the page"
    assert all(shot.visible_texts.values()), shot.visible_texts
