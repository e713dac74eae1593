"""The notebooks' shared setup cell and the exercise generator.

Each chapter's graded exercises have one source, ``solutions/NN_topic.ipynb``, with the
reference answers between marker lines inside code cells::

    def gaussian_kl(mu1, sigma1, mu2, sigma2):
        # BEGIN SOLUTION
        return ...
        # END SOLUTION

``exercises/NN_topic.ipynb`` is generated from it (:func:`make_exercise`): each marked region
becomes one line ``raise NotImplementedError("Write your answer here.")`` at the marker's
indentation, cells tagged ``solution-only`` are dropped and no outputs are kept. In the
solutions only the final score cell (tagged ``nbval-check-output``) keeps an output: the text
``Grader.summary()`` prints at full marks, so ``pytest --nbval-lax solutions/`` proves the
reference answers earn every point.

Every notebook of book/, solutions/ and exercises/ opens with the same setup cell
(:data:`SETUP_CELL`, tagged ``setup``; in the book also ``hide-input``).

Files are written in one canonical form (nbformat JSON, indent 1, sorted keys, trailing
newline), so regenerating an unchanged source gives byte-identical files and
:func:`check_in_sync` can compare bytes.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from .grading import expected_summary

REPOSITORY_URL = "https://github.com/gm-course/gm-course"
DEFAULT_SPEC = f"gm-course @ git+{REPOSITORY_URL}@main"
SPEC_VARIABLE = "GM_COURSE_SPEC"

SETUP_TAG = "setup"
HIDE_INPUT_TAG = "hide-input"
SCORE_TAG = "nbval-check-output"
SOLUTION_ONLY_TAG = "solution-only"
BEGIN_MARKER = "# BEGIN SOLUTION"
END_MARKER = "# END SOLUTION"
STUB = 'raise NotImplementedError("Write your answer here.")'

SETUP_CELL = f"""\
# Course setup: installs the helper package when this kernel lacks it (e.g. on Colab).
import importlib.util, os
{SPEC_VARIABLE} = os.environ.get(
    "{SPEC_VARIABLE}", "{DEFAULT_SPEC}")
if importlib.util.find_spec("gm_course") is None:
    %pip install --quiet "${SPEC_VARIABLE}"

import matplotlib.pyplot as plt
import numpy as np
import torch
import gm_course as gmc
device = gmc.runtime.setup(seed=0)"""

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")
_MARKER_LIKE = re.compile(r"^#\s*(BEGIN|END)\s+SOLUTIONS?\b", re.IGNORECASE)
_CHECK_CALL = re.compile(r"""grader\.check\(\s*["'](\w+)["']""")


# ----------------------------------------------------------------------------- reading, writing

def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def dumps_notebook(nb: nbformat.NotebookNode) -> str:
    """The canonical text of a notebook: nbformat's JSON (indent 1, sorted keys) + newline."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def write_notebook(nb: nbformat.NotebookNode, path: str | Path) -> bool:
    """Write ``nb`` to ``path`` in canonical form; return whether the file changed."""
    path = Path(path)
    text = dumps_notebook(nb)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _set_tags(cell, tags: list[str]) -> None:
    if tags:
        cell.metadata["tags"] = tags
    else:
        cell.metadata.pop("tags", None)


# ----------------------------------------------------------------------------- setup cell

def apply_setup_cell(nb: nbformat.NotebookNode, hide_input: bool = False) -> nbformat.NotebookNode:
    """Make the first code cell the course setup cell (tagged ``setup``); returns ``nb``.

    An existing cell tagged ``setup`` gets the template's source (and moves to the front of
    the code cells if it was elsewhere); a notebook without one gets a new cell just before
    its first code cell. ``hide_input=True`` (book chapters) adds the ``hide-input`` tag.
    """
    tagged = [i for i, c in enumerate(nb.cells) if SETUP_TAG in _tags(c)]
    for i in reversed(tagged[1:]):  # a second setup cell would run the setup twice
        del nb.cells[i]
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    if tagged:
        first_code = min(first_code, tagged[0])
        cell = nb.cells.pop(tagged[0])
        cell.cell_type = "code"
        cell.source = SETUP_CELL
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
    else:
        cell = nbformat.v4.new_code_cell(SETUP_CELL)
        cell.id = "setup"
    tags = [t for t in _tags(cell) if t not in (SETUP_TAG, HIDE_INPUT_TAG)]
    _set_tags(cell, [SETUP_TAG] + ([HIDE_INPUT_TAG] if hide_input else []) + tags)
    nb.cells.insert(first_code, cell)
    return nb


def setup_cell_problems(nb: nbformat.NotebookNode, name: str, hide_input: bool = False) -> list[str]:
    """What is wrong with a notebook's setup cell (empty list: nothing)."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or SETUP_TAG not in _tags(code[0]):
        return [f"{name}: the first code cell is not the setup cell (tagged '{SETUP_TAG}')"]
    problems = []
    if code[0].source != SETUP_CELL:
        problems.append(f"{name}: the setup cell differs from gm_course.notebooks.SETUP_CELL")
    if hide_input and HIDE_INPUT_TAG not in _tags(code[0]):
        problems.append(f"{name}: the setup cell lacks the '{HIDE_INPUT_TAG}' tag")
    if sum(SETUP_TAG in _tags(c) for c in nb.cells) > 1:
        problems.append(f"{name}: more than one cell is tagged '{SETUP_TAG}'")
    return problems


# ----------------------------------------------------------------------------- cleaning

def strip_outputs(nb: nbformat.NotebookNode, keep_tagged: str | None = SCORE_TAG) -> nbformat.NotebookNode:
    """Remove outputs, execution counts and run-time cell metadata, except outputs of cells
    tagged ``keep_tagged``; returns ``nb``."""
    for cell in nb.cells:
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        if keep_tagged is None or keep_tagged not in _tags(cell):
            cell.outputs = []
        for output in cell.outputs:
            if "execution_count" in output:
                output.execution_count = None
    return nb


def _normalize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Fixed notebook metadata and a cell id for every cell (ids from the position if missing)."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        if not cell.get("id"):
            cell.id = f"cell-{i}"
    return nb


# ----------------------------------------------------------------------------- exercises

def replace_solutions(source: str, where: str = "cell") -> str:
    """Replace every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region of ``source`` by the
    stub line at the BEGIN marker's indentation.

    Raises:
        ValueError: naming ``where`` and the line, for a nested or unmatched marker or a line
            that looks like a marker but is not exactly one.
    """
    out: list[str] = []
    begin_line = None
    for n, line in enumerate(source.split("\n"), start=1):
        stripped = line.strip()
        if stripped in (BEGIN_MARKER, END_MARKER):
            opening = stripped == BEGIN_MARKER
            if opening and begin_line is not None:
                raise ValueError(f"{where}, line {n}: '{BEGIN_MARKER}' inside the region opened at line {begin_line}")
            if not opening and begin_line is None:
                raise ValueError(f"{where}, line {n}: '{END_MARKER}' without a '{BEGIN_MARKER}' before it")
            if opening:
                begin_line = n
                out.append(line[: len(line) - len(line.lstrip())] + STUB)
            else:
                begin_line = None
            continue
        if _MARKER_LIKE.match(stripped):
            raise ValueError(f"{where}, line {n}: {stripped!r} looks like a solution marker; "
                             f"write exactly '{BEGIN_MARKER}' or '{END_MARKER}'")
        if begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise ValueError(f"{where}, line {begin_line}: '{BEGIN_MARKER}' has no '{END_MARKER}'")
    return "\n".join(out)


def make_exercise(solution_nb: nbformat.NotebookNode, name: str = "notebook",
                  chapter: str | None = None) -> nbformat.NotebookNode:
    """The learner's notebook made from a solutions notebook (which is left unchanged).

    Marked regions become stubs, ``solution-only`` cells are dropped and outputs are removed,
    except in the score cell (tagged ``nbval-check-output``): it keeps the summary an untouched
    exercise prints, every question TODO and 0 points, which nbval compares.
    """
    nb = copy.deepcopy(solution_nb)
    cells = []
    for i, cell in enumerate(nb.cells):
        if SOLUTION_ONLY_TAG in _tags(cell):
            continue
        if cell.cell_type == "code":
            where = f"{name}, cell {i}" + (f" (id {cell.id})" if cell.get("id") else "")
            cell.source = replace_solutions(cell.source, where)
        cells.append(cell)
    nb.cells = cells
    strip_outputs(nb, keep_tagged=None)
    _store_summary(nb, chapter or Path(name).stem, attempted=False)
    return _normalize(nb)


def _store_summary(nb: nbformat.NotebookNode, chapter: str, attempted: bool) -> None:
    """Give the cell tagged ``nbval-check-output`` the summary text nbval must find there."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for count, cell in enumerate(code_cells, start=1):
        if SCORE_TAG in _tags(cell):
            text = expected_summary(chapter, attempted=attempted)
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
            cell.execution_count = count  # nbval refuses a stored output of an "unrun" cell


def refresh_solution(nb: nbformat.NotebookNode, chapter: str) -> nbformat.NotebookNode:
    """A solutions notebook in canonical form: setup cell from the template, no outputs but
    the full-marks summary in the cell tagged ``nbval-check-output``; returns ``nb``."""
    apply_setup_cell(nb)
    strip_outputs(nb, keep_tagged=None)
    _store_summary(nb, chapter, attempted=True)
    return _normalize(nb)


def _solution_problems(nb: nbformat.NotebookNode, name: str, chapter: str) -> list[str]:
    """Problems a regeneration cannot fix: unchecked questions, a missing score cell."""
    from .questions import CHAPTERS

    if chapter not in CHAPTERS:
        return [f"{name}: no graded questions are registered for chapter '{chapter}' in gm_course.questions"]
    problems = []
    score_cells = [c for c in nb.cells if c.cell_type == "code" and SCORE_TAG in _tags(c)]
    if len(score_cells) != 1 or "grader.summary()" not in score_cells[0].source:
        problems.append(f"{name}: needs exactly one cell tagged '{SCORE_TAG}' calling grader.summary()")
    checked = {m for c in nb.cells if c.cell_type == "code" for m in _CHECK_CALL.findall(c.source)}
    for question in CHAPTERS[chapter]:
        if question not in checked:
            problems.append(f"{name}: question '{question}' has no grader.check(\"{question}\", ...) cell")
    return problems


def generate_exercises(solutions_dir: str | Path, exercises_dir: str | Path) -> list[Path]:
    """Refresh every ``solutions/*.ipynb`` in place and (re)generate ``exercises/`` from them.

    Exercise notebooks without a solution source are deleted (they are generated files).
    Returns the paths written or deleted. Raises ``ValueError`` for unbalanced markers.
    """
    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    changed = []
    sources = sorted(solutions_dir.glob("*.ipynb"))
    for path in sources:
        solution = refresh_solution(read_notebook(path), path.stem)
        exercise = make_exercise(solution, f"{solutions_dir.name}/{path.name}")
        if write_notebook(solution, path):
            changed.append(path)
        if write_notebook(exercise, exercises_dir / path.name):
            changed.append(exercises_dir / path.name)
    for extra in sorted(set(exercises_dir.glob("*.ipynb")) - {exercises_dir / p.name for p in sources}):
        extra.unlink()
        changed.append(extra)
    return changed


def refresh_book_setup_cells(book_dir: str | Path) -> list[Path]:
    """Give every ``book/*.ipynb`` the setup cell (tagged ``setup`` and ``hide-input``); only
    notebooks whose setup cell was wrong are rewritten. Returns those paths."""
    changed = []
    for path in sorted(Path(book_dir).glob("*.ipynb")):
        nb = read_notebook(path)
        if setup_cell_problems(nb, path.name, hide_input=True):
            write_notebook(apply_setup_cell(nb, hide_input=True), path)
            changed.append(path)
    return changed


def check_in_sync(solutions_dir: str | Path, exercises_dir: str | Path,
                  book_dir: str | Path | None = None) -> list[str]:
    """Everything out of sync, one message each (empty list: all in sync).

    Covers missing, extra and stale exercise notebooks, stale solutions (setup cell, stored
    outputs, expected score), unbalanced markers, registered questions without a check cell,
    and the setup cells of ``book_dir/*.ipynb`` when ``book_dir`` is given.
    """
    from .questions import CHAPTERS

    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    fix = "run `gm-course exercises`"
    problems = []
    sources = sorted(solutions_dir.glob("*.ipynb"))
    for chapter in CHAPTERS:
        if not (solutions_dir / f"{chapter}.ipynb").exists():
            problems.append(f"{solutions_dir.name}/{chapter}.ipynb is missing: chapter '{chapter}' has graded questions")
    for path in sources:
        name = f"{solutions_dir.name}/{path.name}"
        text = path.read_text(encoding="utf-8")
        nb = read_notebook(path)
        problems += setup_cell_problems(nb, name)
        problems += _solution_problems(nb, name, path.stem)
        if path.stem not in CHAPTERS:
            continue
        solution = refresh_solution(copy.deepcopy(nb), path.stem)
        if dumps_notebook(solution) != text:
            problems.append(f"{name} is not in canonical form (outputs, expected score or "
                            f"metadata): {fix}")
        try:
            exercise = make_exercise(solution, name)
        except ValueError as err:
            problems.append(str(err))
            continue
        target = exercises_dir / path.name
        if not target.exists():
            problems.append(f"{exercises_dir.name}/{path.name} is missing: {fix}")
        elif target.read_text(encoding="utf-8") != dumps_notebook(exercise):
            problems.append(f"{exercises_dir.name}/{path.name} is out of date with {name}: {fix}")
    for extra in sorted(set(exercises_dir.glob("*.ipynb")) - {exercises_dir / p.name for p in sources}):
        problems.append(f"{exercises_dir.name}/{extra.name} has no source in {solutions_dir.name}/: {fix}")
    if book_dir is not None:
        for path in sorted(Path(book_dir).glob("*.ipynb")):
            problems += setup_cell_problems(read_notebook(path), f"{Path(book_dir).name}/{path.name}",
                                            hide_input=True)
    return problems
