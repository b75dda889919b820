"""Audience expressions read as people write them: not before and before or, parentheses,
any script, and a located error for everything else."""

from __future__ import annotations

import pytest

from publisher.content.audience_expressions import (
    And,
    AudienceSyntaxError,
    Language,
    Not,
    Or,
    Tag,
    languages_in,
    matches,
    parse,
    tags_in,
)


def test_and_binds_tighter_than_or() -> None:
    assert parse("a or b and c") == Or(Tag("a"), And(Tag("b"), Tag("c")))


def test_not_binds_tighter_than_and() -> None:
    assert parse("not a and b") == And(Not(Tag("a")), Tag("b"))


def test_parentheses_override_precedence() -> None:
    assert parse("(a or b) and c") == And(Or(Tag("a"), Tag("b")), Tag("c"))
    assert parse("not (a and b)") == Not(And(Tag("a"), Tag("b")))


def test_operators_group_to_the_left() -> None:
    assert parse("a and b and c") == And(And(Tag("a"), Tag("b")), Tag("c"))


def test_a_language_term_names_the_readers_of_that_language_and_its_narrower_tags() -> None:
    expr = parse("lang:en and not llm")
    assert expr == And(Language("en"), Not(Tag("llm"))) and str(expr) == "lang:en and not llm"
    assert tags_in(expr) == ["llm"] and languages_in(expr) == ["en"]
    assert matches(expr, set(), "en") and matches(expr, set(), "en-GB")
    assert not matches(expr, set(), "zh-CN") and not matches(expr, set(), None)
    assert not matches(expr, {"llm"}, "en") and not matches(parse("lang:en"), set(), "eng")
    assert matches(parse("not lang:zh-CN"), set(), None)


def test_operator_words_are_case_insensitive_and_tags_keep_their_case() -> None:
    assert parse("LLM AND Not weekly-off") == And(Tag("LLM"), Not(Tag("weekly-off")))


def test_chinese_and_hyphenated_tags_are_single_words() -> None:
    expr = parse("(中文 or 论文-精选)and not weekly-off")
    assert expr == And(Or(Tag("中文"), Tag("论文-精选")), Not(Tag("weekly-off")))
    assert tags_in(expr) == ["中文", "论文-精选", "weekly-off"]


@pytest.mark.parametrize("text", [
    "llm and not weekly-off", "a or b and c", "(a or b) and c", "not (a and b)",
    "not not a", "a and (b and c)", "a or (b or c)", "(a or not b) and (中文 or c)",
])
def test_the_canonical_form_reads_back_as_the_same_expression(text: str) -> None:
    assert str(parse(text)) == text
    assert parse(str(parse(text))) == parse(text)


def test_the_canonical_form_drops_needless_parentheses_and_spaces() -> None:
    assert str(parse("  ( llm )and(not  weekly-off) ")) == "llm and not weekly-off"


def test_tags_in_names_each_tag_once_in_order() -> None:
    assert tags_in(parse("b and (a or not b) or c")) == ["b", "a", "c"]


@pytest.mark.parametrize(("text", "tags", "expected"), [
    ("llm and not weekly-off", {"llm"}, True),
    ("llm and not weekly-off", {"llm", "weekly-off"}, False),
    ("not llm", set(), True),
    ("a or b and c", {"a"}, True),
    ("(a or b) and c", {"a"}, False),
])
def test_matches_evaluates_an_expression_over_a_subscribers_tags(
        text: str, tags: set[str], expected: bool) -> None:
    assert matches(parse(text), tags) is expected


@pytest.mark.parametrize(("text", "column", "message"), [
    ("", 1, "empty expression: name at least one tag"),
    ("   ", 1, "empty expression: name at least one tag"),
    ("llm and", 8, "expected a tag, `lang:<language>`, `not` or `(` but the expression ended"),
    ("llm weekly-off", 5, "expected `and` or `or` but found `weekly-off`"),
    ("(llm or agents", 15, "`(` at column 1 is never closed"),
    ("llm)", 4, "`)` without its `(`"),
    ("and llm", 1, "expected a tag, `lang:<language>`, `not` or `(` but found `and`"),
    ("llm and or agents", 9, "expected a tag, `lang:<language>`, `not` or `(` but found `or`"),
    ("()", 2, "expected a tag, `lang:<language>`, `not` or `(` but found `)`"),
    ("中文 and (", 9,
     "expected a tag, `lang:<language>`, `not` or `(` but the expression ended"),
    ("llm and lang:", 9, "`lang:` names no language: write it as `lang:en` or `lang:zh-CN`"),
    ("lang:en_GB", 1, "`lang:en_GB`: 'en_GB' is not a BCP 47 language tag "
                      "(write `lang:en` or `lang:zh-CN`)"),
])
def test_a_malformed_expression_is_refused_with_the_column_of_the_problem(
        text: str, column: int, message: str) -> None:
    with pytest.raises(AudienceSyntaxError) as caught:
        parse(text)
    assert caught.value.column == column
    assert str(caught.value) == f"column {column}: {message}"
    assert isinstance(caught.value, ValueError)
