"""Offline grading of the chapters' exercises: the engine.

A chapter's graded questions live in :mod:`gm_course.questions` (one module per chapter);
this module runs them. In a notebook::

    grader = gmc.grading.Grader("01_density_by_counting")   # chapter id = notebook stem
    grader.check("joint_histogram", joint_histogram)       # one line: PASS / FAIL / TODO
    grader.summary()                                        # every line again, then the score

A check is a pure function ``check(fn) -> None`` that calls the learner's function on
several input cases and raises :class:`CheckFailed` with a short reason when an answer is
wrong. :func:`run_check` turns any outcome into a :class:`Result` and never raises:

- the function raises ``NotImplementedError`` (the exercise stub): ``TODO``, 0 points,
  "not attempted yet";
- the check raises ``CheckFailed``: ``FAIL``, 0 points, the check's reason;
- anything else goes wrong (the function raises another error, returns nonsense the check
  did not foresee): ``FAIL``, 0 points, the error's type and message;
- otherwise ``PASS`` with full points.

Points are all or nothing per question. Results are plain data (``grader.results``), so a
batch grader can run the same checks in a subprocess and read them back; ``gm-course grade``
(:mod:`gm_course.batch`) does, adding each question's hidden checks.
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from dataclasses import asdict, dataclass
from typing import Callable, Mapping

PASS, FAIL, TODO = "PASS", "FAIL", "TODO"
PASS_REASON = "all input cases correct"
NOT_ATTEMPTED = "not attempted yet"
NOT_CHECKED = "not checked yet: run the cell that checks it"

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARY_DIRS = tuple(
    {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
)


class CheckFailed(Exception):
    """Raised by a check with a short, learner-facing reason ("expected shape (2, 3), ...")."""


@dataclass(frozen=True)
class Question:
    """One graded question: its points, its check ``check(fn) -> None`` and a one-line statement.

    ``hidden`` holds further checks, same signature, that the notebook never runs: the batch
    grader (:mod:`gm_course.batch`) gives the points only when the public check and every
    hidden one pass, so an answer tuned to the public input cases loses them. A chapter
    module adds them where it defines the question (``Question(2, check, "...",
    hidden=(check_more,))``); a question without any is graded on its public check alone.
    """

    points: int
    check: Callable[[Callable], None]
    statement: str
    hidden: tuple[Callable[[Callable], None], ...] = ()


@dataclass(frozen=True)
class Result:
    """The outcome of checking one question (``status`` is ``"PASS"``, ``"FAIL"`` or ``"TODO"``)."""

    name: str
    points: int
    max_points: int
    status: str
    reason: str

    def line(self) -> str:
        """The line printed for this result, e.g. ``PASS gaussian_kl (2/2 points): ...``."""
        return f"{self.status} {self.name} ({self.points}/{self.max_points} points): {self.reason}"

    def to_dict(self) -> dict:
        return asdict(self)


def _short(err: BaseException, limit: int = 200) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_check(name: str, question: Question, fn: Callable) -> Result:
    """Run ``question.check(fn)`` and turn whatever happens into a :class:`Result`; never raises
    (except ``KeyboardInterrupt``, so that a learner can still stop a slow function)."""

    def result(status: str, reason: str) -> Result:
        points = question.points if status == PASS else 0
        return Result(name, points, question.points, status, reason)

    if not callable(fn):
        return result(FAIL, f"expected a function, got {type(fn).__name__}")
    try:
        question.check(fn)
    except NotImplementedError:
        return result(TODO, NOT_ATTEMPTED)
    except CheckFailed as err:
        return result(FAIL, str(err))
    except (Exception, SystemExit) as err:  # noqa: BLE001 - a check must never raise
        where = _learner_frame(err)
        return result(FAIL, f"your function raised {_short(err)}{where}")
    return result(PASS, PASS_REASON)


def _learner_frame(err: BaseException) -> str:
    """`` (line N)``: where in the learner's own code the error happened, when we can tell.

    That is the deepest traceback frame called from this package's checks that lies neither
    in this package nor in an installed library (torch, numpy, the standard library).
    """
    frames = traceback.extract_tb(err.__traceback__)
    inside = [i for i, f in enumerate(frames) if f.filename.startswith(_PACKAGE_DIR)]
    start = inside[-1] + 1 if inside else 0
    mine = [f for f in frames[start:] if not f.filename.startswith(_LIBRARY_DIRS)]
    return f" (line {mine[-1].lineno})" if mine else ""


def chapter_questions(chapter: str) -> Mapping[str, Question]:
    """The registered questions of ``chapter`` (a notebook stem such as ``"02_maximum_likelihood_and_kl"``)."""
    from .questions import CHAPTERS  # imported here: the question modules import this one

    if chapter not in CHAPTERS:
        known = ", ".join(sorted(CHAPTERS)) or "none"
        raise ValueError(f"unknown chapter {chapter!r}; chapters with graded questions: {known}")
    return CHAPTERS[chapter]


def score_line(points: int, max_points: int) -> str:
    return f"Score: {points}/{max_points} points"


def expected_summary(chapter: str, questions: Mapping[str, Question] | None = None,
                     attempted: bool = True) -> str:
    """The text ``Grader.summary()`` prints when every question passes (stored in solutions/),
    or, with ``attempted=False``, when every answer is still the stub (stored in exercises/)."""
    questions = chapter_questions(chapter) if questions is None else questions
    if attempted:
        lines = [Result(n, q.points, q.points, PASS, PASS_REASON).line() for n, q in questions.items()]
    else:
        lines = [Result(n, 0, q.points, TODO, NOT_ATTEMPTED).line() for n, q in questions.items()]
    total = sum(q.points for q in questions.values())
    return "\n".join(lines + [score_line(total if attempted else 0, total)]) + "\n"


class Grader:
    """Checks a chapter's exercises in the notebook and keeps the results as data.

    Args:
        chapter: the chapter id, i.e. the notebook's file name without ``.ipynb``.
        questions: the questions to use instead of the registry's (for hidden checks or tests).
        verbose: print one line per check (the notebook default); ``False`` for batch use.
    """

    def __init__(self, chapter: str, questions: Mapping[str, Question] | None = None,
                 verbose: bool = True):
        self.chapter = chapter
        self.questions = dict(chapter_questions(chapter) if questions is None else questions)
        self.verbose = verbose
        self._results: dict[str, Result] = {}

    @property
    def max_points(self) -> int:
        return sum(q.points for q in self.questions.values())

    @property
    def results(self) -> list[Result]:
        """The latest result of each question checked so far, in the chapter's question order."""
        return [self._results[n] for n in self.questions if n in self._results]

    @property
    def points(self) -> int:
        return sum(r.points for r in self._results.values())

    def check(self, name: str, fn: Callable) -> None:
        """Check the learner's ``fn`` for question ``name``; print one line; never raise."""
        if name not in self.questions:
            known = ", ".join(self.questions)
            self._print(f"FAIL {name}: no question of this name in {self.chapter} (questions: {known})")
            return
        result = run_check(name, self.questions[name], fn)
        self._results[name] = result
        self._print(result.line())

    def passed(self, name: str) -> bool:
        """Whether ``name`` has been checked and passed (to run a demo only once it works)."""
        result = self._results.get(name)
        return result is not None and result.status == PASS

    def summary(self) -> None:
        """Print every question's line (unchecked ones as TODO), then ``Score: X/Y points``."""
        for name, question in self.questions.items():
            result = self._results.get(name) or Result(name, 0, question.points, TODO, NOT_CHECKED)
            self._print(result.line(), force=True)
        self._print(score_line(self.points, self.max_points), force=True)

    def _print(self, line: str, force: bool = False) -> None:
        if self.verbose or force:
            print(line)
