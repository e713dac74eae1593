"""The graded checks: reference answers pass, wrong answers ("mutants") lose their points,
and nothing a learner writes makes a check raise.

The reference answers are taken from the solutions notebooks themselves (the cell that
defines the function is executed in a fresh namespace), so a test failure here means the
notebook a learner is graded against and its checks disagree.
"""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from gm_course import grading
from gm_course.grading import PASS, FAIL, TODO, CheckFailed, Grader, Question, run_check
from gm_course.questions import CHAPTERS

from mutants import collect_mutants

ROOT = Path(__file__).resolve().parents[1]
ALL_QUESTIONS = [(chapter, name) for chapter, qs in CHAPTERS.items() for name in qs]


def reference(chapter: str, name: str):
    """The reference answer ``name`` defined in ``solutions/<chapter>.ipynb``."""
    nb = nbformat.read(ROOT / "solutions" / f"{chapter}.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source]
    assert len(cells) == 1, f"{chapter}: expected one cell defining {name}, found {len(cells)}"
    namespace = {"torch": torch, "np": np, "math": math}
    exec(compile(cells[0].source, f"<{chapter}:{name}>", "exec"), namespace)  # noqa: S102
    return namespace[name]


def grade(chapter: str, name: str, fn) -> grading.Result:
    return run_check(name, CHAPTERS[chapter][name], fn)


# ----------------------------------------------------------------------------- reference answers

@pytest.mark.parametrize("chapter, name", ALL_QUESTIONS)
def test_reference_answer_from_the_solutions_earns_full_marks(chapter, name):
    result = grade(chapter, name, reference(chapter, name))
    assert (result.status, result.points, result.reason) == (PASS, result.max_points, grading.PASS_REASON)


@pytest.mark.parametrize("chapter, name", ALL_QUESTIONS)
def test_a_stub_is_not_attempted_and_scores_zero(chapter, name):
    def stub(*args):
        raise NotImplementedError("Write your answer here.")

    result = grade(chapter, name, stub)
    assert (result.status, result.points, result.reason) == (TODO, 0, grading.NOT_ATTEMPTED)


# ----------------------------------------------------------------------------- mutants
# One module per chapter in tests/mutants/ (chNN.py with CHAPTER and MUTANTS = {question: {label: fn}}).

MUTANTS = collect_mutants()


def test_every_question_has_at_least_three_mutants():
    assert set(MUTANTS) == set(ALL_QUESTIONS)
    assert all(len(mutants) >= 3 for mutants in MUTANTS.values())


@pytest.mark.parametrize("chapter, name, label", [
    (chapter, name, label) for (chapter, name), mutants in MUTANTS.items() for label in mutants
])
def test_every_mutant_loses_its_points(chapter, name, label):
    result = grade(chapter, name, MUTANTS[chapter, name][label])
    assert (result.status, result.points) == (FAIL, 0), f"mutant {label!r}: {result}"
    assert result.reason and result.reason != grading.PASS_REASON


@pytest.mark.parametrize("chapter, name, label, expected", [
    ("01_density_by_counting", "joint_histogram", "transposed", "axes swapped"),
    ("01_density_by_counting", "joint_histogram", "normalised by the points inside", "normalisation"),
    ("01_density_by_counting", "conditional_density", "NaN in empty rows", "NaN"),
    ("02_maximum_likelihood_and_kl", "gaussian_kl", "a python float", "expected a torch.Tensor, got float"),
    ("02_maximum_likelihood_and_kl", "gaussian_kl", "math.log", "your function raised"),
    ("02_maximum_likelihood_and_kl", "fit_gaussian_mle", "x x^T instead of x^T x", "expected shape"),
    ("02_maximum_likelihood_and_kl", "fit_gaussian_mle", "numpy arrays", "torch.as_tensor"),
    ("02_maximum_likelihood_and_kl", "fit_gaussian_mle", "only the covariance", "expected a pair (mean, cov)"),
])
def test_failure_reasons_point_at_the_mistake(chapter, name, label, expected):
    reason = grade(chapter, name, MUTANTS[chapter, name][label]).reason
    assert expected in reason
    assert reason.startswith("input case") or reason.startswith("your function raised")


# ----------------------------------------------------------------------------- odd answers

def _map_tensors(out, fn):
    return tuple(fn(o) for o in out) if isinstance(out, tuple) else fn(out)


ODD_ANSWERS = {
    "raises ValueError": (lambda ref: lambda *a: (_ for _ in ()).throw(ValueError("boom")),
                          "your function raised ValueError: boom"),
    "returns None": (lambda ref: lambda *a: None, "got NoneType"),
    "returns NaN": (lambda ref: lambda *a: _map_tensors(ref(*a), lambda t: t * float("nan")), "NaN"),
    "returns a list": (lambda ref: lambda *a: _map_tensors(ref(*a), lambda t: t.tolist()), "torch.as_tensor"),
    "returns an ndarray": (lambda ref: lambda *a: _map_tensors(ref(*a), lambda t: t.numpy()), "got ndarray"),
    "wrong shape": (lambda ref: lambda *a: _map_tensors(ref(*a), lambda t: t[None]), "expected shape"),
    "integer dtype": (lambda ref: lambda *a: _map_tensors(ref(*a), lambda t: t.round().long()),
                      "floating-point"),
    "changes its input": (lambda ref: lambda *a: (ref(*a), a[0].mul_(2))[0], "in place"),
}


@pytest.mark.parametrize("chapter, name", ALL_QUESTIONS)
@pytest.mark.parametrize("kind", list(ODD_ANSWERS))
def test_odd_answers_score_zero_without_raising(chapter, name, kind):
    make, expected = ODD_ANSWERS[kind]
    result = grade(chapter, name, make(reference(chapter, name)))
    assert (result.status, result.points) == (FAIL, 0), result
    assert expected in result.reason, result.reason


def test_a_non_function_and_an_exiting_function_fail_cleanly():
    question = CHAPTERS["02_maximum_likelihood_and_kl"]["gaussian_kl"]
    assert run_check("gaussian_kl", question, 3.0).reason == "expected a function, got float"

    def exits(*args):
        raise SystemExit(1)

    assert run_check("gaussian_kl", question, exits).status == FAIL


def test_the_reason_gives_the_line_of_the_learner_code_that_failed():
    def broken(mu1, sigma1, mu2, sigma2):
        x = 1
        return x / 0  # raises here, two lines below the def

    line = broken.__code__.co_firstlineno + 2
    reason = grade("02_maximum_likelihood_and_kl", "gaussian_kl", broken).reason
    assert reason == f"your function raised ZeroDivisionError: division by zero (line {line})"


def test_checks_are_deterministic_and_leave_global_random_state_alone():
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()
    fn = MUTANTS["01_density_by_counting", "joint_histogram"]["N - 1"]
    first = grade("01_density_by_counting", "joint_histogram", fn)
    assert grade("01_density_by_counting", "joint_histogram", fn) == first
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == numpy_state[1].tolist()


# ----------------------------------------------------------------------------- the Grader

def test_grader_prints_one_line_per_check_and_keeps_results_as_data(capsys):
    grader = Grader("02_maximum_likelihood_and_kl")
    grader.check("gaussian_kl", MUTANTS["02_maximum_likelihood_and_kl", "gaussian_kl"]["reverse KL"])
    grader.check("gaussian_kl", reference("02_maximum_likelihood_and_kl", "gaussian_kl"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("FAIL gaussian_kl (0/2 points): input case ")
    assert lines[1] == "PASS gaussian_kl (2/2 points): all input cases correct"
    assert grader.results == [grading.Result("gaussian_kl", 2, 2, PASS, grading.PASS_REASON)]
    assert grader.results[0].to_dict() == {"name": "gaussian_kl", "points": 2, "max_points": 2,
                                           "status": PASS, "reason": grading.PASS_REASON}
    assert grader.passed("gaussian_kl") and not grader.passed("fit_gaussian_mle")

    grader.summary()
    assert capsys.readouterr().out.splitlines() == [
        "PASS gaussian_kl (2/2 points): all input cases correct",
        f"TODO fit_gaussian_mle (0/2 points): {grading.NOT_CHECKED}",
        "Score: 2/4 points",
    ]


def test_an_unknown_question_prints_a_failure_and_an_unknown_chapter_is_an_error(capsys):
    grader = Grader("01_density_by_counting")
    grader.check("joint_histogramm", lambda *a: None)
    assert "no question of this name" in capsys.readouterr().out
    assert grader.results == []
    with pytest.raises(ValueError, match="unknown chapter"):
        Grader("99_nonexistent")


def test_grader_takes_its_own_questions_for_hidden_checks(capsys):
    def must_return_42(fn):
        if fn() != 42:
            raise CheckFailed("expected 42")

    grader = Grader("hidden", questions={"answer": Question(3, must_return_42, "the answer")},
                    verbose=False)
    grader.check("answer", lambda: 41)
    assert capsys.readouterr().out == ""
    assert grader.results[0].reason == "expected 42" and grader.max_points == 3


def test_expected_summary_is_what_a_full_marks_run_prints(capsys):
    for chapter, questions in CHAPTERS.items():
        grader = Grader(chapter, verbose=False)
        for name in questions:
            grader.check(name, reference(chapter, name))
        grader.summary()
        assert capsys.readouterr().out == grading.expected_summary(chapter)
