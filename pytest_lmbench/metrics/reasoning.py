"""Final-answer extraction and accuracy for reasoning tasks (logic and math).

The scorer reads only the model's visible output: ``<think>`` blocks and the
separate reasoning field are never searched for an answer, since a model that
thinks the right number and then states a wrong one is wrong. Explicit answer
forms win over heuristics, and the heuristic takes the *last* number: the
first number of a worked answer is usually one restated from the question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

from pytest_lmbench.metrics.text import normalize_answer, parse_number

_THINK_TAG = re.compile(r"<(/?)(?:think|thinking)\s*>", re.IGNORECASE)
# Only the lead-in is matched, so a second "answer is" on the same line is found too.
_ANSWER_LEAD = re.compile(r"\banswer\b[*_\s]*(?:is\b|:|=)[*_ \t:]*", re.IGNORECASE)
_HASHES_LEAD = re.compile(r"####[ \t]*")
_LINE_CONTENT = re.compile(r"\S[^\n]*")
_BOXED = re.compile(r"\\boxed\s*\{")
# Where an explicit answer phrase stops: the rest is justification. A
# parenthesis holding one letter is the answer itself: "option (C)".
_PHRASE_END = re.compile(r"\.\s|;|\s\((?![A-Ea-e]\))|\s(?:because|since|as|which)\b", re.IGNORECASE)
_DECORATION = "*_`'\" \t"
# Sentence punctuation after the answer; stripped before any "$...$" test.
_TRAILING = ".,;:!"
_MATH_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_TEX_TEXT = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")

# A number inside running text. The minus belongs to the number only when it
# does not follow a word ("3-2" is a range or a difference, not -2).
# A LaTeX fraction, an exponent ("1.5e3") and a mixed number ("1 1/2") are one number.
_NUMBER = re.compile(
    r"(?:(?<![\w])[-−])?"
    r"(?:\\[dt]?frac\s*(?:\{\s*[-+]?\d+\s*\}|\d)\s*(?:\{\s*[-+]?\d+\s*\}|\d)"
    r"|[$€£]?(?:\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d{1,3}(?!\w))?"
    r"(?:[ \t]+\d+\s*/\s*\d+|\s*/\s*\d+)?%?)"
)
_CHOICE_ONLY = re.compile(r"[\s(\[*]*([A-Ea-e])[\s)\].:*]*")
_CHOICE_LEADING = re.compile(r"\s*\(?([A-Ea-e])[).:](?:\s|$)")
_CHOICE_MARK = re.compile(
    r"\(([A-E])\)|(?<![\w(])([A-E])\)|(?i:\b(?:option|choice|letter)(?:\s+is)?)[\s:]*\(?([A-E])\b"
)
# How an explicit answer names a letter: "B", "(B)", "B) Paris", "B, Paris",
# "Option B", "option (C)".
_LETTER_LEADING = re.compile(r"\s*\(?([A-Ea-e])(?:[).:,]|\s*[-–—])(?:\s|$)")
_OPTION_LEADING = re.compile(
    r"(?:the\s+)?(?:correct\s+)?(?:option|choice|letter)\b(?:\s+is\b)?[\s:#]*\(?([A-Ea-e])\b",
    re.IGNORECASE,
)
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_RELATIVE_TOLERANCE = Fraction(1, 10**9)


def strip_reasoning(text: str) -> str:
    """The visible answer: ``<think>``/``<thinking>`` blocks removed.

    An unclosed opening tag hides everything after it (generation stopped while
    thinking). A closing tag without an opening one hides everything before it:
    some chat templates put the opening ``<think>`` in the prompt.
    """
    pieces: list[str] = []
    position, inside = 0, False
    for tag in _THINK_TAG.finditer(text):
        closing = bool(tag.group(1))
        if not inside and not closing:
            pieces.append(text[position : tag.start()])
            inside = True
        elif closing:
            if not inside:
                pieces = []  # a stray closing tag: everything so far was reasoning
            inside = False
            position = tag.end()
    if not inside:
        pieces.append(text[position:])
    return "".join(pieces).strip()


def _matching_braces(text: str) -> dict[int, int]:
    """Position of each ``{`` mapped to its ``}``, in one pass."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for index, char in enumerate(text):
        if char == "{":
            stack.append(index)
        elif char == "}" and stack:
            pairs[stack.pop()] = index
    return pairs


def _boxed_contents(text: str) -> list[tuple[int, str]]:
    boxes = list(_BOXED.finditer(text))
    if not boxes:
        return []
    pairs = _matching_braces(text)
    return [
        (box.start(), text[box.end() : pairs[box.end() - 1]])
        for box in boxes
        if box.end() - 1 in pairs
    ]


def _rest_of_line(text: str, start: int) -> str:
    # "The answer is:" may put the answer on the next line.
    found = _LINE_CONTENT.search(text, start)
    return found.group(0) if found else ""


def _unwrap_once(phrase: str) -> str:
    phrase = phrase.strip(_DECORATION).rstrip(_TRAILING).strip(_DECORATION)
    # LaTeX math around the answer ("$\\frac{2}{5}$"), not a currency sign ("$5").
    for opening, closing in _MATH_DELIMITERS:
        inner = len(phrase) - len(opening) - len(closing)
        if inner > 0 and phrase.startswith(opening) and phrase.endswith(closing):
            phrase = phrase[len(opening) : -len(closing)]
            break
    return _TEX_TEXT.sub(r"\1", phrase)


def _clean_phrase(phrase: str) -> str:
    cut = _PHRASE_END.search(phrase)
    if cut:
        phrase = phrase[: cut.start()]
    # Wrappers nest in any order ("**$\\text{B}$.**"): peel until nothing changes.
    while True:
        unwrapped = _unwrap_once(phrase)
        if unwrapped == phrase:
            return phrase
        phrase = unwrapped


def explicit_answer(text: str) -> str | None:
    """The last ``Answer: X`` / ``The answer is X`` / ``#### X`` / ``\\boxed{X}``."""
    found = _boxed_contents(text)
    for lead in (_ANSWER_LEAD, _HASHES_LEAD):
        found += [(m.start(), _rest_of_line(text, m.end())) for m in lead.finditer(text)]
    for _, phrase in sorted(found, key=lambda item: item[0], reverse=True):
        cleaned = _clean_phrase(phrase)
        if cleaned:
            return cleaned
    return None


def last_number(text: str) -> str | None:
    """The last number written in the text, as written (``$1,234.50``)."""
    matches = _NUMBER.findall(text)
    return matches[-1].strip() if matches else None


def choice_letter(text: str) -> str | None:
    """An option letter A–E when the text reads as a multiple-choice answer."""
    only = _CHOICE_ONLY.fullmatch(text)
    if only:
        return only.group(1).upper()
    leading = _CHOICE_LEADING.match(text)
    if leading:
        return leading.group(1).upper()
    marks = [next(g for g in m.groups() if g) for m in _CHOICE_MARK.finditer(text)]
    return marks[-1].upper() if marks else None


def extract_final_answer(text: str) -> str | None:
    """The model's final answer, or ``None`` when nothing answer-like is found.

    Explicit forms first (last one wins), else the last number, else an
    option letter when the text looks like a multiple-choice answer.
    """
    visible = strip_reasoning(text)
    return explicit_answer(visible) or last_number(visible) or choice_letter(visible)


def _to_fraction(value: str | int | float) -> Fraction | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return parse_number(value)
    try:
        return Fraction(value)
    except (ValueError, OverflowError):  # nan and inf have no exact value
        return None


def _close(x: Fraction, y: Fraction) -> bool:
    return abs(x - y) <= _RELATIVE_TOLERANCE * max(abs(x), abs(y))


def numbers_equal(a: str | int | float, b: str | int | float) -> bool:
    """True when both are numbers of the same value (relative tolerance 1e-9)."""
    x, y = _to_fraction(a), _to_fraction(b)
    return x is not None and y is not None and _close(x, y)


def _predicted_value(predicted: str) -> Fraction | None:
    value = parse_number(predicted)
    if value is None:
        # "18 dollars", "3 + 4 = 7": the last number of the answer phrase.
        number = last_number(predicted)
        value = parse_number(number) if number else None
    return value


def _answer_letter(predicted: str) -> str | None:
    text = predicted.strip(_DECORATION)
    found = (
        _CHOICE_ONLY.fullmatch(text) or _LETTER_LEADING.match(text) or _OPTION_LEADING.match(text)
    )
    return found.group(1).upper() if found else None


def answers_match(predicted: str, reference: str) -> bool:
    """Whether an extracted answer equals a reference answer.

    Numbers by value; option letters and yes/no case-insensitively ("B"
    matches "(B)", "B) Paris", "B, Paris" and "Option B"); anything else by
    SQuAD-normalised equality.
    """
    expected_value = parse_number(reference)
    if expected_value is not None:
        value = _predicted_value(predicted)
        return value is not None and _close(value, expected_value)
    expected_letter = _CHOICE_ONLY.fullmatch(reference)
    if expected_letter:
        return _answer_letter(predicted) == expected_letter.group(1).upper()
    expected_text = normalize_answer(reference)
    predicted_text = normalize_answer(predicted)
    if expected_text in ("yes", "no"):
        return predicted_text.split()[:1] == [expected_text]
    return bool(expected_text) and predicted_text == expected_text


def _implicit_candidates(text: str, reference: str) -> list[str]:
    # Without an explicit answer, look where this kind of reference would be.
    if parse_number(reference) is not None:
        number = last_number(text)
        return [number] if number else []
    if _CHOICE_ONLY.fullmatch(reference):
        letter = choice_letter(text)
        return [letter] if letter else []
    if normalize_answer(reference) in ("yes", "no"):
        words = _YES_NO.findall(text)
        return [words[-1]] if words else []
    lines = [line for line in text.splitlines() if line.strip()]
    return [text, lines[-1]] if lines else []


def accuracy(output: str, references: Sequence[str], reasoning: str = "") -> float:
    """1.0 when the final answer in ``output`` matches any reference.

    ``reasoning`` (the server's separate reasoning field) is accepted and
    deliberately ignored: only the visible answer is scored.
    """
    del reasoning
    visible = strip_reasoning(output)
    explicit = explicit_answer(visible)
    for reference in references:
        if not reference.strip():
            continue
        candidates = [explicit] if explicit else _implicit_candidates(visible, reference)
        if any(answers_match(candidate, reference) for candidate in candidates):
            return 1.0
    return 0.0
