"""Output health: repetition loops, truncation and garbage text.

These flags explain a low quality score ("it looped", "it ran out of
tokens") and catch broken quantisations or templates that produce text no
reference metric was designed for.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Literal

Coherence = Literal["ok", "truncated", "repetitive", "garbled"]

NGRAM = 5
REPETITIVE_ABOVE = 0.3
# A run of this many characters without any whitespace is not prose...
GARBLED_MIN_CHARS = 20
# ...unless it is written in a script that does not separate words by spaces.
_SPACELESS_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR")
# Above this share of control/replacement characters the text is not text.
_MAX_BAD_SHARE = 0.3
# Below this share of letters and digits among visible characters it is noise.
_MIN_ALNUM_SHARE = 0.25


def repetition_ratio(text: str) -> float:
    """Share of word 5-grams that repeat an earlier one (0.0 below five words)."""
    words = text.lower().split()
    if len(words) < NGRAM:
        return 0.0
    grams = Counter(tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1))
    total = sum(grams.values())
    return sum(count - 1 for count in grams.values()) / total


def _is_bad_char(char: str) -> bool:
    if char == "\ufffd":
        return True
    return unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn") and char not in "\n\r\t"


def _is_spaceless_script(char: str) -> bool:
    return unicodedata.name(char, "").startswith(_SPACELESS_SCRIPTS)


def _garbled(text: str) -> bool:
    stripped = text.strip()
    if not stripped:
        return False
    if sum(map(_is_bad_char, stripped)) / len(stripped) > _MAX_BAD_SHARE:
        return True
    visible = [c for c in stripped if not c.isspace()]
    if len(visible) < GARBLED_MIN_CHARS:
        return False
    if sum(c.isalnum() for c in visible) / len(visible) < _MIN_ALNUM_SHARE:
        return True
    no_whitespace = not any(c.isspace() for c in stripped)
    spaceless = sum(map(_is_spaceless_script, visible)) / len(visible) > 0.5
    return no_whitespace and not spaceless


def _at_limit(output_tokens: int | None, max_tokens: int | None) -> bool:
    # Servers do not always say "length"; a full token budget means the same.
    if output_tokens is None or max_tokens is None or max_tokens <= 0:
        return False
    return output_tokens >= max_tokens


def coherence(
    text: str,
    finish_reason: str | None,
    output_tokens: int | None,
    max_tokens: int | None,
) -> Coherence:
    """Classify an output; a loop is reported before the truncation it causes."""
    if repetition_ratio(text) > REPETITIVE_ABOVE:
        return "repetitive"
    if finish_reason == "length" or _at_limit(output_tokens, max_tokens):
        return "truncated"
    if _garbled(text):
        return "garbled"
    return "ok"
