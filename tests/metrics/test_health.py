"""Repetition ratio and the coherence flag."""

from __future__ import annotations

import pytest

from pytest_lmbench.metrics.health import coherence, repetition_ratio


def test_repetition_ratio_hand_worked() -> None:
    assert repetition_ratio("one two three four") == 0.0
    assert repetition_ratio("one two three four five") == 0.0
    # 10 words, 6 five-grams; "a b c d e" occurs at 0 and 5 -> 1 repeat of 6
    assert repetition_ratio("a b c d e a b c d e") == pytest.approx(1 / 6)
    # case-insensitive
    assert repetition_ratio("A b c d e a B c d e") == pytest.approx(1 / 6)


def test_repetition_ratio_clean_and_looping_text() -> None:
    prose = (
        "The quick brown fox jumps over the lazy dog. Then the dog wakes up and chases "
        "the fox across the field, until both of them are tired and lie down in the shade."
    )
    assert repetition_ratio(prose) == 0.0
    # A sentence said three times is a loop: 14 of its 23 five-grams repeat.
    looped = "The quick brown fox jumps over the lazy dog. " * 3
    assert repetition_ratio(looped) == pytest.approx(14 / 23)
    assert repetition_ratio("the cat sat on the mat " * 20) > 0.5


@pytest.mark.parametrize(
    ("text", "finish_reason", "output_tokens", "max_tokens", "flag"),
    [
        ("This is a coherent response about transformers.", "stop", 50, 200, "ok"),
        ("the cat sat " * 30, "stop", 90, 200, "repetitive"),
        ("the cat sat " * 30, "length", 200, 200, "repetitive"),  # the loop is the cause
        ("This response was cut", "length", 200, 200, "truncated"),
        ("This response was cut", None, 200, 200, "truncated"),
        ("This response was cut", "stop", 200, None, "ok"),
        ("aaabbbccc" * 10, "stop", 50, 200, "garbled"),
        ("!!@@##$$%%^^&&**(()) ~~~ ;;;", "stop", 20, 200, "garbled"),
        ("\ufffd\ufffd\ufffd ok", "stop", 5, 200, "garbled"),
        ("这是一个关于变压器模型的连贯的中文回答没有空格", "stop", 20, 200, "ok"),
        ("short", "stop", 1, 200, "ok"),
        ("", "stop", 0, 200, "ok"),
        ('{"location": "Paris", "unit": "celsius"}', "stop", 12, 200, "ok"),
    ],
)
def test_coherence(
    text: str,
    finish_reason: str | None,
    output_tokens: int | None,
    max_tokens: int | None,
    flag: str,
) -> None:
    assert coherence(text, finish_reason, output_tokens, max_tokens) == flag
