"""Text-overlap metrics: SQuAD exact match and F1, ROUGE, keyword accuracy.

Exact match and F1 follow the official SQuAD evaluation script (v1.1
normalisation; the v2.0 rule for empty answers: both empty scores 1.0).
ROUGE is the F-measure of Google's ``rouge-score`` package with the Porter
stemmer, so numbers are comparable with published ROUGE results.
``parse_number`` lives here (not in ``reasoning``) because both keyword
accuracy and the reasoning scorer compare numbers by value.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any

from rouge_score import rouge_scorer

ROUGE_TYPES: tuple[str, ...] = ("rouge1", "rouge2", "rougeL")

_PUNCTUATION_TABLE = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")

NUMBER_WORDS: dict[str, int] = {
    word: value
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}

# The exponent has at most three digits: Fraction("1e999999999") would build a
# gigantic integer, while 10**999 is still cheap.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_FRACTION = re.compile(r"([+-]?\d+)\s*/\s*(\d+)")
# "1 1/2" is one and a half; only a proper fraction makes a mixed number.
_MIXED_NUMBER = re.compile(r"([+-]?)(\d+)\s+(\d+)\s*/\s*(\d+)")
# TeX lets a one-digit argument go without braces: \frac12 is \frac{1}{2}.
_LATEX_ARGUMENT = r"(?:\{\s*([+-]?\d+)\s*\}|(\d))"
_LATEX_FRACTION = re.compile(rf"([+-]?)\\[dt]?frac\s*{_LATEX_ARGUMENT}\s*{_LATEX_ARGUMENT}")
_CURRENCY = "$€£"
# Longer strings are not answers; bounding them keeps Fraction() cheap.
_MAX_NUMBER_CHARS = 64

# Numbers inside running text, for keyword accuracy on number references.
_NUMBER_IN_TEXT = re.compile(
    r"(?<![\w.])[-−]?[$€£]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?%?(?![\w])"
)


def normalize_answer(s: str) -> str:
    """SQuAD normalisation, in the official order.

    Lowercase, drop ASCII punctuation, drop the articles a/an/the as whole
    words, collapse whitespace.
    """
    text = s.lower().translate(_PUNCTUATION_TABLE)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _gold_answers(references: Sequence[str]) -> list[str]:
    # SQuAD v2.0: references that normalise to nothing are dropped, and a case
    # with no usable reference is a "no answer" case whose gold answer is "".
    gold = [ref for ref in references if normalize_answer(ref)]
    return gold or [""]


def _token_f1(prediction: str, reference: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(reference).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised reference."""
    normalized = normalize_answer(prediction)
    return max(float(normalized == normalize_answer(ref)) for ref in _gold_answers(references))


def f1(prediction: str, references: Sequence[str]) -> float:
    """SQuAD token F1 (bag of tokens after normalisation), best over references."""
    return max(_token_f1(prediction, ref) for ref in _gold_answers(references))


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    # Building the scorer loads the NLTK Porter stemmer; do it once, on first use.
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge(prediction: str, references: Sequence[str]) -> dict[str, float]:
    """ROUGE-1/2/L F-measure from ``rouge-score``, each best over the references."""
    targets = [ref for ref in references if ref.strip()]
    if not targets:
        return dict.fromkeys(ROUGE_TYPES, 0.0)
    scores = _rouge_scorer().score_multi(targets, prediction)
    return {key: float(scores[key].fmeasure) for key in ROUGE_TYPES}


def parse_number(text: str) -> Fraction | None:
    """The exact value of a string that is just a number, else ``None``.

    Accepts thousands separators (``1,234``), a currency sign, a trailing
    ``%`` or period, an exponent (``1.5e3``), fractions (``1/2``, ``1 1/2``,
    ``\\frac{1}{2}``, ``\\frac12``), the unicode minus and the number words
    zero..twenty. ``50%`` is 50, not 0.5: references
    state percentages the way the question does.
    """
    s = text.strip().replace("−", "-")
    if not s or len(s) > _MAX_NUMBER_CHARS:
        return None
    word = NUMBER_WORDS.get(s.lower().rstrip("."))
    if word is not None:
        return Fraction(word)
    s = s.rstrip(".").strip()
    s = s.removesuffix("%").strip()
    sign = ""
    if s.startswith(("+", "-")):
        sign, s = s[0], s[1:].lstrip()
    s = s.lstrip(_CURRENCY).strip()
    if not sign and s.startswith(("+", "-")):
        sign, s = s[0], s[1:].lstrip()
    s = sign + s
    try:
        if _PLAIN_NUMBER.fullmatch(s):
            return Fraction(s)
        if _GROUPED_NUMBER.fullmatch(s):
            return Fraction(s.replace(",", ""))
        return _parse_fraction(s)
    except (ValueError, ZeroDivisionError):  # e.g. Python's int digit limit
        return None


def _parse_fraction(s: str) -> Fraction | None:
    """``1/2``, ``1 1/2``, ``\\frac{1}{2}`` or ``\\frac12``; ``None`` for anything else."""
    match = _FRACTION.fullmatch(s)
    if match and int(match.group(2)) != 0:
        return Fraction(int(match.group(1)), int(match.group(2)))
    mixed = _MIXED_NUMBER.fullmatch(s)
    if mixed and int(mixed.group(3)) < int(mixed.group(4)):
        value = int(mixed.group(2)) + Fraction(int(mixed.group(3)), int(mixed.group(4)))
        return -value if mixed.group(1) == "-" else value
    latex = _LATEX_FRACTION.fullmatch(s)
    if latex:
        top, bottom = int(latex.group(2) or latex.group(3)), int(latex.group(4) or latex.group(5))
        if not bottom:
            return None
        return Fraction(-top if latex.group(1) == "-" else top, bottom)
    return None


def _numbers_in(text: str) -> list[Fraction]:
    values = [parse_number(m.group(0)) for m in _NUMBER_IN_TEXT.finditer(text)]
    values += [
        Fraction(NUMBER_WORDS[t]) for t in normalize_answer(text).split() if t in NUMBER_WORDS
    ]
    return [v for v in values if v is not None]


def _contains_words(haystack: str, needle: str) -> bool:
    # Both sides are normalised (single spaces), so whole-word matching is a
    # match bounded by spaces or the string ends.
    return re.search(rf"(?:^| ){re.escape(needle)}(?: |$)", haystack) is not None


def keyword_accuracy(prediction: str, references: Sequence[str]) -> float:
    """1.0 when any reference occurs in the prediction as whole words.

    Matching is on SQuAD-normalised text, so "cat" matches "The cat." but not
    "concatenate". A number reference (digits or a word up to twenty) matches
    any number of the same value in the prediction: "three" == "3".
    """
    normalized = normalize_answer(prediction)
    predicted_numbers: list[Fraction] | None = None
    for ref in references:
        value = parse_number(ref)
        if value is not None:
            if predicted_numbers is None:
                predicted_numbers = _numbers_in(prediction)
            if value in predicted_numbers:
                return 1.0
            continue
        needle = normalize_answer(ref)
        if needle and _contains_words(normalized, needle):
            return 1.0
    return 0.0
