"""What the seed text contains: its paper titles and URLs, read from the original."""

from __future__ import annotations

import re

from tests.conftest import SEED_TEXT

TITLE_LINE = re.compile(r"^(\d+)、\s*(.+)$")


def seed_lines() -> list[str]:
    return [line.strip() for line in SEED_TEXT.read_text(encoding="utf-8").splitlines()]


def seed_titles() -> list[str]:
    """Numbered lines that are paper titles (English), not the numbered points inside a paper."""
    titles = []
    for line in seed_lines():
        match = TITLE_LINE.match(line)
        if match and sum(ch.isascii() and ch.isalpha() for ch in match.group(2)) > len(
            match.group(2)
        ) / 2:
            titles.append(match.group(2).strip())
    return titles


def seed_urls() -> list[str]:
    return [line for line in seed_lines() if re.match(r"^https?://\S+$", line)]


SECTIONS = ["LLM进展与基准测试", "LLM训练、评估与推理", "LLM量化与对齐", "LLM提示工程与微调",
            "LLM推理", "注意力模型"]
