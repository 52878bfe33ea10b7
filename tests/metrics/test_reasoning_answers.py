"""Regressions of issue 19: answer phrases that scored 0 although they were right.

Each family crosses the ways a model introduces its answer with the ways it
writes it and the punctuation after it, and checks the right answer scores 1
and its wrong-answer twin 0.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_lmbench.metrics.reasoning import accuracy, extract_final_answer

# Deterministic under CI=true through Hypothesis's own "ci" profile.
PROPERTY = settings(max_examples=150, deadline=None)

LEADS = ("The answer is ", "Answer: ", "**Answer:** ", "Final answer: ", "The answer is:\n")
ENDINGS = ("", ".", "!", " .", ".\nDone.")

TWO_FIFTHS = (
    "$\\frac{2}{5}$",
    "\\frac{2}{5}",
    "$\\dfrac{2}{5}$",
    "$\\tfrac{2}{5}$",
    "\\(\\frac{2}{5}\\)",
    "$$\\frac{2}{5}$$",
    "\\boxed{\\frac{2}{5}}",
    "$\\boxed{\\frac{2}{5}}$",
    "$\\text{0.4}$",
    "0.4",
    "2/5",
    "$0.4$",
    "**$\\frac{2}{5}$**",
)
LETTER_B = (
    "B",
    "(B)",
    "B)",
    "B.",
    "**B**",
    "Option B",
    "option (B)",
    "Option B)",
    "option B is correct",
    "the option B",
    "choice B",
    "letter (B)",
    "B, Paris",
    "B) Paris",
    "(B) Paris",
    "B - Paris",
    "\\boxed{B}",
    "\\boxed{\\text{B}}",
    "$\\text{B}$",
    "$\\textbf{B}$",
)


@pytest.mark.parametrize(
    ("output", "right", "wrong"),
    [
        ("The answer is $\\frac{2}{5}$.", "0.4", "0.5"),
        ("Answer: Option B", "B", "C"),
        ("The answer is option (C).", "C", "B"),
        ("The answer is B, Paris.", "B", "A"),
        ("Correct option: D", "D", "B"),
    ],
)
def test_issue_strings(output: str, right: str, wrong: str) -> None:
    assert accuracy(output, [right]) == 1.0
    assert accuracy(output, [wrong]) == 0.0


@pytest.mark.parametrize(
    ("lead", "body", "ending"), list(itertools.product(LEADS, TWO_FIFTHS, ENDINGS))
)
def test_fraction_family(lead: str, body: str, ending: str) -> None:
    output = f"We divide 2 by 5.\n{lead}{body}{ending}"
    assert accuracy(output, ["0.4"]) == 1.0, extract_final_answer(output)
    assert accuracy(output, ["2/5"]) == 1.0
    assert accuracy(output, ["0.5"]) == 0.0


@pytest.mark.parametrize(
    ("lead", "body", "ending"), list(itertools.product(LEADS, LETTER_B, ENDINGS))
)
def test_letter_family(lead: str, body: str, ending: str) -> None:
    output = f"Paris is the capital.\n{lead}{body}{ending}"
    assert accuracy(output, ["B"]) == 1.0, extract_final_answer(output)
    assert accuracy(output, ["(b)"]) == 1.0
    assert accuracy(output, ["A"]) == 0.0
    assert accuracy(output, ["C"]) == 0.0


@pytest.mark.parametrize(
    ("output", "right", "wrong"),
    [
        ("\\boxed{\\frac12}", "0.5", "2"),
        ("so x = \\boxed{-\\frac34}", "-0.75", "0.75"),
        ("The answer is 1.5e3.", "1500", "1.5"),
        ("It is about 2.5E-3 metres", "0.0025", "2.5"),
        ("The answer is 1 1/2.", "1.5", "0.5"),
        ("We need 2 3/4 cups of flour", "2.75", "0.75"),
        ("Answer: \\boxed{\\text{B}}", "B", "A"),
        ("hence $\\frac{2}{5}$", "0.4", "5"),
        ("The answer is \\boxed{5 \\text{ apples}}.", "5", "6"),
        ("The answer is $5.", "5", "6"),  # a currency sign is not LaTeX math
        ("The answer is 12 (because 3 times 4)", "12", "3"),
    ],
)
def test_number_and_tex_forms(output: str, right: str, wrong: str) -> None:
    assert accuracy(output, [right]) == 1.0, extract_final_answer(output)
    assert accuracy(output, [wrong]) == 0.0


@pytest.mark.parametrize(
    ("output", "reference"),
    [
        ("The answer is a dog.", "A"),  # an article is not option A
        ("The answer is option Bravo.", "B"),
        ("The answer is 3 5/4 cups.", "4.25"),  # not a mixed number: 5/4 is improper
    ],
)
def test_near_misses_stay_wrong(output: str, reference: str) -> None:
    assert accuracy(output, [reference]) == 0.0


FRACTION_FORMS = (
    "$\\frac{{{p}}}{{{q}}}$",
    "\\boxed{{\\dfrac{{{p}}}{{{q}}}}}",
    "\\({p}/{q}\\)",
    "$\\text{{{p}/{q}}}$",
)


@PROPERTY
@given(
    st.integers(-999, 999),
    st.integers(1, 999),
    st.sampled_from(LEADS),
    st.sampled_from(FRACTION_FORMS),
    st.sampled_from(ENDINGS),
)
def test_any_fraction_in_any_wrapper(p: int, q: int, lead: str, form: str, ending: str) -> None:
    value = Fraction(p, q)
    output = lead + form.format(p=p, q=q) + ending
    assert accuracy(output, [f"{value.numerator}/{value.denominator}"]) == 1.0, output
    assert accuracy(output, [str(value + 1)]) == 0.0, output


@PROPERTY
@given(
    st.sampled_from("ABCDE"),
    st.sampled_from("ABCDE"),
    st.sampled_from(LEADS),
    st.sampled_from(LETTER_B),
    st.sampled_from(ENDINGS),
)
def test_any_letter_in_any_form(
    letter: str, reference: str, lead: str, form: str, ending: str
) -> None:
    output = lead + form.replace("B", letter) + ending
    assert accuracy(output, [reference]) == float(letter == reference), output
