"""The plain-text part keeps a table a table: aligned columns (CJK cells count two
columns), or `header: value` lines when it is wider than the text."""

from __future__ import annotations

from publisher.content.issues import read_issue
from publisher.content.plaintext import display_width, to_text
from tests.conftest import DATA

NARROW = """\
| 模型 | 参数量 | 得分 | 论文 |
|:--|--:|:-:|---|
| GPT-4 | 1.8T | 86.4 | [paper](https://arxiv.org/abs/1) |
| 通义千问 | 72B | 80.1 | [论文](https://arxiv.org/abs/2) |
| Llama | 8B | 66 | - |
"""


def test_a_table_that_fits_is_aligned_columns_under_a_rule() -> None:
    lines = to_text(NARROW).splitlines()
    assert lines[:5] == [
        "模型      参数量  得分  论文",
        "--------  ------  ----  ---------",
        "GPT-4       1.8T  86.4  paper [1]",
        "通义千问     72B  80.1  论文 [2]",
        "Llama         8B   66   -",
    ]
    assert "[2] https://arxiv.org/abs/2" in lines


def test_a_table_wider_than_the_text_becomes_labelled_lines_one_row_a_block() -> None:
    text = to_text(read_issue(DATA / "layout" / "table-and-code.md").body)
    assert ("模型 Model: 通义千问 Qwen2-72B\n参数量 Parameters: 72,706,203,648\n"
            "上下文 Context: 131072\n许可证 Licence: tongyi-qianwen\n\n") in text
    assert all(display_width(line) <= 76 for line in text.splitlines()
               if not line.startswith("    "))  # code lines keep their length
    assert "\n\nLlama-3-8B-Instruct\n\n" not in text  # no cell is a paragraph of its own
