"""SQuAD exact match / F1, ROUGE parity with rouge-score, keyword accuracy."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from pytest_lmbench.metrics.text import (
    exact_match,
    f1,
    keyword_accuracy,
    normalize_answer,
    parse_number,
    rouge,
)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The Cat", "cat"),
        ("  An  apple, a day! ", "apple day"),
        ("theater another", "theater another"),  # articles only as whole words
        ("Paris.", "paris"),
        ("U.S.A.", "usa"),
        ("", ""),
    ],
)
def test_normalize_answer(raw: str, normalized: str) -> None:
    assert normalize_answer(raw) == normalized


def test_punctuation_removed_before_articles() -> None:
    # Official order: "the-cat" loses "-" first, then "the" is a whole word.
    assert normalize_answer("the-cat") == "thecat"
    assert normalize_answer("the, cat") == "cat"


def test_exact_match() -> None:
    assert exact_match("The Eiffel Tower.", ["eiffel tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower"]) == 0.0
    assert exact_match("Lyon", ["Paris", "lyon"]) == 1.0


def test_f1_hand_worked() -> None:
    # pred tokens: cat sat | gold: cat sat down -> P=1, R=2/3, F=0.8
    assert f1("The cat sat", ["the cat sat down"]) == pytest.approx(0.8)
    # best over references
    assert f1("cat sat", ["dog", "cat sat down"]) == pytest.approx(0.8)
    assert f1("dog", ["cat"]) == 0.0
    # multiset overlap: "a a b" vs "a b b" -> common {a:1, b:1}; P=R=2/3
    assert f1("x x y", ["x y y"]) == pytest.approx(2 / 3)


def test_empty_cases_follow_official_script() -> None:
    assert f1("", [""]) == 1.0
    assert exact_match("", [""]) == 1.0
    assert f1("the", ["a"]) == 1.0  # both normalise to nothing
    assert f1("", ["Paris"]) == 0.0
    assert f1("Paris", [""]) == 0.0
    assert exact_match("", []) == 1.0  # no reference = "no answer" case


def test_rouge_parity_with_rouge_score() -> None:
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    pairs = [
        ("the cats are running in the park", "a cat runs in a park"),
        ("Summaries should be short.", "A summary should be brief and short."),
        ("completely unrelated", "nothing in common here"),
    ]
    for prediction, reference in pairs:
        ours = rouge(prediction, [reference])
        theirs = scorer.score(reference, prediction)
        for key in ("rouge1", "rouge2", "rougeL"):
            assert ours[key] == pytest.approx(theirs[key].fmeasure)


def test_rouge1_hand_computed() -> None:
    # 6 tokens each, overlap cat/sat/on/mat = 4: P = R = F = 4/6
    scores = rouge("the cat sat on the mat", ["a cat sat on a mat"])
    assert scores["rouge1"] == pytest.approx(2 / 3)
    # bigrams: cat sat, sat on overlap out of 5 each
    assert scores["rouge2"] == pytest.approx(0.4)


def test_rouge_uses_stemmer_and_best_reference() -> None:
    assert rouge("cats running", ["cat run"])["rouge1"] == pytest.approx(1.0)
    best = rouge("the cat sat", ["dog barked", "the cat sat"])
    assert best == pytest.approx({"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0})


def test_rouge_without_references_is_zero() -> None:
    assert rouge("anything", []) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


@pytest.mark.parametrize(
    ("prediction", "references", "expected"),
    [
        ("It is a cat.", ["cat"], 1.0),
        ("concatenate the strings", ["cat"], 0.0),
        ("A red STOP sign", ["stop sign"], 1.0),
        ("I count three apples", ["3"], 1.0),
        ("There are 3 apples.", ["three"], 1.0),
        ("There are 13 apples.", ["3"], 0.0),
        ("about 1,200 people", ["1200"], 1.0),
        ("a dog", ["cat", "dog"], 1.0),
        ("a bird", ["cat", "dog"], 0.0),
        ("anything", ["the"], 0.0),  # a reference with no words matches nothing
    ],
)
def test_keyword_accuracy(prediction: str, references: list[str], expected: float) -> None:
    assert keyword_accuracy(prediction, references) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("$1,234.50", "2469/2"),
        ("1234.5", "2469/2"),
        ("1/2", "1/2"),
        ("\\frac{3}{4}", "3/4"),
        ("-7", "-7"),
        ("−7", "-7"),
        ("-$7", "-7"),
        ("50%", "50"),
        ("5.", "5"),
        ("Twenty", "20"),
        ("1.5e3", "1500"),
        ("2E-3", "1/500"),
        ("1 1/2", "3/2"),
        ("-2 3/4", "-11/4"),
        ("\\frac12", "1/2"),
        ("\\dfrac{1}2", "1/2"),
        ("-\\tfrac{2}{5}", "-2/5"),
        ("\\frac{-1}{3}", "-1/3"),
        ("-\\frac{-1}{3}", "1/3"),
    ],
)
def test_parse_number(text: str, value: str) -> None:
    from fractions import Fraction

    assert parse_number(text) == Fraction(value)


@pytest.mark.parametrize(
    "text", ["", ".", "-", "1e5000", "1,2", "1/0", "abc", "9" * 100, "3 5/4", "\\frac{1}{0}"]
)
def test_parse_number_rejects(text: str) -> None:
    assert parse_number(text) is None
