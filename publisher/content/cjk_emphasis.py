"""Emphasis that works in Chinese, Japanese and Korean text.

CommonMark's flanking rule refuses `**智能体（agents）**和`: the closing `**` follows a
punctuation mark and precedes a letter, so it cannot close, and the asterisks are shown as
they are. The CJK-friendly amendment (commonmark-spec issue 650, as markdown-it-cjk-friendly
implements it) counts a CJK character on the outer side of a run, and CJK punctuation on its
inner side, the way CommonMark counts whitespace and letters: a run beside them may open or
close. Text without CJK characters parses exactly as before.
"""

from __future__ import annotations

import unicodedata

from markdown_it import MarkdownIt
from markdown_it.common.utils import isMdAsciiPunct, isPunctChar, isWhiteSpace
from markdown_it.parser_inline import ParserInline
from markdown_it.rules_inline.state_inline import Scanned, StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType

# East Asian Width wide, fullwidth or halfwidth: Han, kana, Hangul syllables, CJK punctuation.
_CJK_WIDTHS = frozenset({"W", "F", "H"})
# Wide characters that are pictographs, not text (emoji presentation): not CJK.
_EMOJI_BLOCKS = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2B00, 0x2BFF))
_HANGUL_JAMO = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xD7B0, 0xD7FF))


def is_cjk(char: str) -> bool:
    """A CJK character in the amendment's sense (a close approximation without the emoji
    tables: wide pictographs are left out, Hangul jamo of any width are in)."""
    code = ord(char)
    if any(low <= code <= high for low, high in _HANGUL_JAMO):
        return True
    if unicodedata.east_asian_width(char) not in _CJK_WIDTHS:
        return False
    return not any(low <= code <= high for low, high in _EMOJI_BLOCKS)


def _is_punctuation(char: str) -> bool:
    return isMdAsciiPunct(ord(char)) or isPunctChar(char)


def _is_non_cjk_punctuation(char: str) -> bool:
    return _is_punctuation(char) and not is_cjk(char)


def flanking(last: str, following: str) -> tuple[bool, bool]:
    """(left-flanking, right-flanking) of a delimiter run between `last` and `following`
    (a space stands for the start or end of the line)."""
    last_space, next_space = isWhiteSpace(ord(last)), isWhiteSpace(ord(following))
    last_punct, next_punct = _is_non_cjk_punctuation(last), _is_non_cjk_punctuation(following)
    left = not next_space and (not next_punct or last_space or last_punct or is_cjk(last))
    right = not last_space and (not last_punct or next_space or next_punct or is_cjk(following))
    return left, right


class _CjkStateInline(StateInline):
    def scanDelims(self, start: int, canSplitWord: bool) -> Scanned:  # markdown-it's names
        marker = self.src[start]
        pos = start
        while pos < self.posMax and self.src[pos] == marker:
            pos += 1
        last = self.src[start - 1] if start > 0 else " "
        following = self.src[pos] if pos < self.posMax else " "
        left, right = flanking(last, following)
        can_open = left and (canSplitWord or not right or _is_punctuation(last))
        can_close = right and (canSplitWord or not left or _is_punctuation(following))
        return Scanned(can_open, can_close, pos - start)


class _CjkParserInline(ParserInline):
    def parse(self, src: str, md: MarkdownIt, env: EnvType, tokens: list[Token]) -> list[Token]:
        state = _CjkStateInline(src, md, env, tokens)
        self.tokenize(state)
        for rule in self.ruler2.getRules(""):
            rule(state)
        return state.tokens


def use_cjk_friendly_emphasis(md: MarkdownIt) -> MarkdownIt:
    """Make `md` scan emphasis runs with the CJK-friendly rule; its inline rules stay as set."""
    inline = _CjkParserInline()
    inline.__dict__.update(md.inline.__dict__)  # the rulers as the preset enabled them
    md.inline = inline
    return md
