"""The exercise generator, the setup cell and the committed notebooks.

- markers become stubs at their indentation; unbalanced markers are a ValueError naming the
  notebook and cell;
- the committed exercises/ equal a fresh generation from solutions/ (else: `gm-course exercises`);
- the score stored in each solutions notebook is the registry's full marks;
- the score stored in each exercises notebook is 0 with every question not attempted (nbval
  executes both folders and compares these stored scores).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from gm_course import cli, grading, notebooks
from gm_course.notebooks import (
    SCORE_TAG, SETUP_CELL, STUB, apply_setup_cell, check_in_sync, make_exercise, replace_solutions,
)
from gm_course.questions import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def cell(source, tags=(), kind="code", id=None):
    c = new_code_cell(source) if kind == "code" else new_markdown_cell(source)
    c.id = id or f"c{abs(hash(source)) % 10**8}"
    if tags:
        c.metadata["tags"] = list(tags)
    return c


# ----------------------------------------------------------------------------- markers

def test_markers_become_one_stub_line_at_their_indentation():
    source = (
        "def f(x):\n"
        '    """Doc stays."""\n'
        "    # BEGIN SOLUTION\n"
        "    y = x + 1\n"
        "    return y\n"
        "    # END SOLUTION\n"
        "\n"
        "# BEGIN SOLUTION\n"
        "z = f(1)\n"
        "# END SOLUTION\n"
        "if True:\n"
        "        # BEGIN SOLUTION\n"
        "        pass\n"
        "        # END SOLUTION\n"
        "print('kept')"
    )
    assert replace_solutions(source) == (
        "def f(x):\n"
        '    """Doc stays."""\n'
        f"    {STUB}\n"
        "\n"
        f"{STUB}\n"
        "if True:\n"
        f"        {STUB}\n"
        "print('kept')"
    )


def test_a_cell_without_markers_is_unchanged():
    assert replace_solutions("x = 1\n# a comment mentioning solutions\n") == "x = 1\n# a comment mentioning solutions\n"


@pytest.mark.parametrize("source, message", [
    ("x = 1\n# END SOLUTION", "line 2: '# END SOLUTION' without"),
    ("# BEGIN SOLUTION\nx = 1", "line 1: '# BEGIN SOLUTION' has no"),
    ("# BEGIN SOLUTION\n  # BEGIN SOLUTION\n# END SOLUTION", "line 2: '# BEGIN SOLUTION' inside"),
    ("#BEGIN SOLUTION\nx = 1\n# END SOLUTION", "looks like a solution marker"),
    ("# begin solution\nx = 1\n# END SOLUTION", "looks like a solution marker"),
])
def test_unbalanced_or_malformed_markers_raise_naming_notebook_and_cell(source, message):
    nb = new_notebook(cells=[cell("import torch", id="first"), cell(source, id="answer")])
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        make_exercise(nb, "solutions/99_demo.ipynb")
    assert "solutions/99_demo.ipynb, cell 1 (id answer)" in str(err.value)


def test_make_exercise_drops_solution_only_cells_and_outputs_but_stores_the_zero_score():
    answer = cell("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION", id="answer")
    answer.outputs = [new_output("stream", name="stdout", text="hi\n")]
    answer.execution_count = 3
    score = cell("grader.summary()", tags=[SCORE_TAG, "keep-me"], id="score")
    score.outputs = [new_output("stream", name="stdout", text="Score: 1/1 points\n")]
    solution = new_notebook(cells=[
        cell("# Title", kind="markdown", id="title"), answer,
        cell("print(f())", tags=["solution-only"], id="secret"), score,
    ])
    before = nbformat.writes(solution)
    chapter = SOLUTIONS[0].stem
    exercise = make_exercise(solution, f"solutions/{chapter}.ipynb")
    assert nbformat.writes(solution) == before  # the source is left alone
    assert [c.id for c in exercise.cells] == ["title", "answer", "score"]
    assert exercise.cells[1].source == f"def f():\n    {STUB}"
    assert exercise.cells[1].outputs == [] and exercise.cells[1].execution_count is None
    # the score cell shows what an untouched exercise prints, for nbval to compare
    assert exercise.cells[2].metadata["tags"] == [SCORE_TAG, "keep-me"]
    (output,) = exercise.cells[2].outputs
    assert output.text == grading.expected_summary(chapter, attempted=False)
    assert output.text.splitlines()[-1].startswith("Score: 0/")
    assert all(line.startswith("TODO ") for line in output.text.splitlines()[:-1])
    with pytest.raises(ValueError, match="unknown chapter"):
        make_exercise(solution, "solutions/99_demo.ipynb")


# ----------------------------------------------------------------------------- setup cell

def test_setup_cell_template_installs_only_when_missing_from_one_spec():
    assert notebooks.DEFAULT_SPEC.startswith("gm-course @ git+" + notebooks.REPOSITORY_URL)
    assert (f'os.environ.get(\n    "{notebooks.SPEC_VARIABLE}", "{notebooks.DEFAULT_SPEC}")'
            in SETUP_CELL)
    assert 'if importlib.util.find_spec("gm_course") is None:\n    %pip install' in SETUP_CELL
    assert "gmc.runtime.setup(seed=0)" in SETUP_CELL


def test_apply_setup_cell_inserts_before_the_first_code_cell_and_is_idempotent():
    nb = new_notebook(cells=[cell("# Chapter", kind="markdown", id="t"), cell("x = 1", id="x")])
    apply_setup_cell(nb, hide_input=True)
    assert [c.id for c in nb.cells] == ["t", "setup", "x"]
    assert nb.cells[1].source == SETUP_CELL and nb.cells[1].metadata["tags"] == ["setup", "hide-input"]
    text = nbformat.writes(nb)
    apply_setup_cell(nb, hide_input=True)
    assert nbformat.writes(nb) == text
    assert notebooks.setup_cell_problems(nb, "book/x.ipynb", hide_input=True) == []


def test_apply_setup_cell_keeps_a_leading_setup_cell_first():
    nb = new_notebook(cells=[cell("old", tags=["setup"], id="s"), cell("# T", kind="markdown", id="t"),
                             cell("x = 1", id="x")])
    apply_setup_cell(nb)
    assert [c.id for c in nb.cells] == ["s", "t", "x"] and nb.cells[0].source == SETUP_CELL


def test_apply_setup_cell_refreshes_a_stale_setup_cell_in_place():
    stale = cell("import gm_course  # old", tags=["setup"], id="old-setup")
    nb = new_notebook(cells=[cell("y = 2", id="y"), stale])
    assert notebooks.setup_cell_problems(nb, "n.ipynb") == ["n.ipynb: the first code cell is not the setup cell (tagged 'setup')"]
    apply_setup_cell(nb)
    assert [c.id for c in nb.cells] == ["old-setup", "y"] and nb.cells[0].source == SETUP_CELL
    assert nb.cells[0].metadata["tags"] == ["setup"]


# ----------------------------------------------------------------------------- the committed files

def test_committed_exercises_and_solutions_are_in_sync():
    problems = check_in_sync(ROOT / "solutions", ROOT / "exercises", ROOT / "book")
    assert problems == [], "\n".join(problems)


def test_every_chapter_with_questions_has_a_solutions_and_an_exercises_notebook():
    assert {p.stem for p in SOLUTIONS} == set(CHAPTERS)
    assert {p.stem for p in (ROOT / "exercises").glob("*.ipynb")} == set(CHAPTERS)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_exercises_file_is_byte_identical_to_a_fresh_generation(path):
    exercise = make_exercise(notebooks.read_notebook(path), path.name)
    assert (ROOT / "exercises" / path.name).read_text(encoding="utf-8") == notebooks.dumps_notebook(exercise), \
        "exercises/ is out of date: run `gm-course exercises`"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_solutions_store_only_the_full_marks_score(path):
    nb = notebooks.read_notebook(path)
    with_outputs = [c for c in nb.cells if c.cell_type == "code" and c.outputs]
    assert len(with_outputs) == 1 and SCORE_TAG in with_outputs[0].metadata["tags"]
    (output,) = with_outputs[0].outputs
    total = sum(q.points for q in CHAPTERS[path.stem].values())
    assert output.text.splitlines()[-1] == f"Score: {total}/{total} points"
    assert output.text == grading.expected_summary(path.stem)


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_committed_notebooks_name_no_local_paths(folder):
    for path in (ROOT / folder).glob("*.ipynb"):
        text = path.read_text(encoding="utf-8")
        assert str(ROOT) not in text and "/home/" not in text and "/tmp/" not in text, path.name


# ----------------------------------------------------------------------------- generation, check, CLI

@pytest.fixture
def repo_copy(tmp_path):
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "book").mkdir()
    return tmp_path


def test_regenerating_an_unchanged_source_writes_nothing(repo_copy):
    assert notebooks.generate_exercises(repo_copy / "solutions", repo_copy / "exercises") == []


def test_generation_into_an_empty_folder_matches_the_committed_files(repo_copy):
    shutil.rmtree(repo_copy / "exercises")
    written = notebooks.generate_exercises(repo_copy / "solutions", repo_copy / "exercises")
    assert sorted(p.name for p in written) == sorted(p.name for p in SOLUTIONS)
    for path in written:
        assert path.read_bytes() == (ROOT / "exercises" / path.name).read_bytes()


def test_check_lists_every_kind_of_drift_and_the_cli_fixes_what_it_can(repo_copy, capsys):
    first, second = sorted((repo_copy / "exercises").glob("*.ipynb"))[:2]
    first.unlink()                                                   # missing
    nb = notebooks.read_notebook(second)
    nb.cells[-1].source += "\nprint('edited by hand')"
    nbformat.write(nb, str(second))                                  # stale
    shutil.copy(second, repo_copy / "exercises" / "77_orphan.ipynb")  # extra
    sol = repo_copy / "solutions" / second.name
    nb = notebooks.read_notebook(sol)
    next(c for c in nb.cells if "setup" in c.metadata.get("tags", [])).source = "import gm_course"  # stale
    notebooks.write_notebook(nb, sol)
    book = new_notebook(cells=[cell("# Chapter", kind="markdown"), cell("1 + 1")])
    nbformat.write(book, str(repo_copy / "book" / "05_demo.ipynb"))  # book without setup cell

    problems = check_in_sync(repo_copy / "solutions", repo_copy / "exercises", repo_copy / "book")
    text = "\n".join(problems)
    assert f"exercises/{first.name} is missing" in text
    assert f"exercises/{second.name} is out of date" in text
    assert "exercises/77_orphan.ipynb has no source" in text
    assert f"solutions/{second.name}: the setup cell differs" in text
    assert "book/05_demo.ipynb: the first code cell is not the setup cell" in text

    assert cli.main(["--root", str(repo_copy), "check"]) == 1
    assert cli.main(["--root", str(repo_copy), "exercises"]) == 0
    assert cli.main(["--root", str(repo_copy), "setup-cells"]) == 0
    assert cli.main(["--root", str(repo_copy), "check"]) == 0
    assert not (repo_copy / "exercises" / "77_orphan.ipynb").exists()
    for folder in ("solutions", "exercises"):
        for path in (ROOT / folder).glob("*.ipynb"):
            assert (repo_copy / folder / path.name).read_bytes() == path.read_bytes()
    assert "in sync" in capsys.readouterr().out


def test_check_reports_unbalanced_markers_and_unchecked_questions(repo_copy):
    sol = repo_copy / "solutions" / SOLUTIONS[0].name
    nb = notebooks.read_notebook(sol)
    answer = next(c for c in nb.cells if "# BEGIN SOLUTION" in c.source)
    answer.source = answer.source.replace("# END SOLUTION", "")
    check = next(c for c in nb.cells if c.source.startswith("grader.check("))
    nb.cells.remove(check)
    notebooks.write_notebook(nb, sol)
    text = "\n".join(check_in_sync(repo_copy / "solutions", repo_copy / "exercises"))
    assert f"solutions/{sol.name}, cell {nb.cells.index(answer)} (id {answer.id})" in text
    assert "has no '# END SOLUTION'" in text
    name = re.search(r'grader\.check\("(\w+)"', check.source).group(1)
    assert f"question '{name}' has no grader.check" in text
    with pytest.raises(ValueError, match="has no '# END SOLUTION'"):
        notebooks.generate_exercises(repo_copy / "solutions", repo_copy / "exercises")


# ----------------------------------------------------------------------------- execution
# nbval executes every solutions/ and exercises/ notebook (`make test` passes both folders with
# --nbval-lax) and compares the score cell's output with the text stored there: full marks in
# solutions/, every question TODO with 0 points in exercises/. So a notebook that raises, a
# reference answer that loses a point, or a stub that earns one fails nbval; the tests below
# prove that the stored texts are exactly those.

@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_exercises_store_only_the_zero_score_of_untouched_stubs(path):
    nb = notebooks.read_notebook(ROOT / "exercises" / path.name)
    with_outputs = [c for c in nb.cells if c.cell_type == "code" and c.outputs]
    assert len(with_outputs) == 1 and SCORE_TAG in with_outputs[0].metadata["tags"]
    (output,) = with_outputs[0].outputs
    total = sum(q.points for q in CHAPTERS[path.stem].values())
    assert output.text.splitlines()[-1] == f"Score: 0/{total} points"
    assert output.text.count(grading.NOT_ATTEMPTED) == len(CHAPTERS[path.stem])
    assert "FAIL" not in output.text
