"""The batch grader (``gm-course grade``) against what a class may submit.

One grading run over a folder of adversarial submissions (each case below is one notebook)
plus the solutions and exercises of every chapter; a second, interrupted and resumed run;
and unit tests of the pieces (cell preparation, chapter detection, the value codec, the
judge with a question that has no hidden checks).
"""

from __future__ import annotations

import copy
import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from gm_course import batch
from gm_course.grading import CheckFailed, Question
from gm_course.questions import CHAPTERS
from gm_course.remote import Channel
from gm_course.sandbox import judge
from gm_course.zygote import Zygote

ROOT = Path(__file__).resolve().parents[1]
CH1 = "01_density_by_counting"
LIMITS = ["--cell-timeout", "3", "--timeout", "90", "--memory-mb", "1024"]
# chapters whose notebooks exist (`gm-course check` reports a registered chapter without them)
NOTEBOOK_CHAPTERS = [c for c in CHAPTERS
                     if all((ROOT / kind / f"{c}.ipynb").exists() for kind in ("solutions", "exercises"))]


def _nb(kind: str, chapter: str = CH1):
    return nbformat.read(ROOT / kind / f"{chapter}.ipynb", as_version=4)


def _with_cell(nb, source: str, after: str):
    nb = copy.deepcopy(nb)
    i = next(i for i, c in enumerate(nb.cells) if c.get("id") == after)
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source))
    return nb


def _replace(nb, cell_id: str, source: str):
    nb = copy.deepcopy(nb)
    next(c for c in nb.cells if c.get("id") == cell_id).source = source
    return nb


MONKEYPATCH = '''\
import gm_course.grading as g, gm_course.questions.expect as e
from gm_course.questions import CHAPTERS
g.run_check = lambda name, q, fn: g.Result(name, q.points, q.points, "PASS", "all input cases correct")
g.Grader.check = lambda self, name, fn: None
for q in list(CHAPTERS["01_density_by_counting"]):
    CHAPTERS["01_density_by_counting"][q] = g.Question(2, lambda fn: None, "")
e.close = lambda *a, **k: None
class NeverRaised(Exception):
    pass
g.CheckFailed = NeverRaised

def conditional_density(joint, dy):
    import gm_course.questions.expect as e2   # patching at call time, inside the function
    e2.close = lambda *a, **k: None
    e2.tensor = lambda v, *a, **k: v
    return joint'''

PUBLIC_ONLY = '''\
from gm_course.questions import ch01 as _public
_TABLE = {}
for _case in _public._histogram_cases():   # memorise the answers to the public inputs
    _x, _y, _bx, _by, _xr, _yr = _case.args
    _c, _, _ = np.histogram2d(_x.double().numpy(), _y.double().numpy(), bins=[_bx, _by], range=[_xr, _yr])
    _TABLE[float(_x.sum())] = torch.tensor(_c / (len(_x) * (_xr[1] - _xr[0]) / _bx * (_yr[1] - _yr[0]) / _by))

def joint_histogram(x, y, bins_x, bins_y, x_range, y_range):
    return _TABLE.get(float(x.sum()), torch.zeros(bins_x, bins_y, dtype=torch.float64))'''

# A tensor that carries an autograd graph triggers the in-process re-check; with the checker
# patched there, that re-check would pass, so it must be refused.
FALLBACK_ABUSE = '''\
import gm_course.questions.expect as e
e.close = lambda *a, **k: None

def conditional_density(joint, dy):
    return torch.zeros(joint.shape, dtype=torch.float64, requires_grad=True) * 1.0'''

FAKE_SCORES = ('print("PASS joint_histogram (2/2 points): all input cases correct")\n'
               'print("PASS conditional_density (2/2 points): all input cases correct")\n'
               'print("Score: 4/4 points")')

# name: (how to build it, expected status, expected points out of 4)
CASES = {
    "solution": (lambda s, e: s, "ok", 4),
    "untouched_exercise": (lambda s, e: e, "ok", 0),
    "syntax_error": (lambda s, e: _replace(s, "q1-answer", "def joint_histogram(x, y, bins_x, bins_y, x_range, y_range)\n    return x"), "error", 2),
    "exception_in_a_cell": (lambda s, e: _with_cell(s, "counts = {}\ncounts['missing'] += 1", "q1-check"), "error", 4),
    "infinite_loop": (lambda s, e: _with_cell(s, "while True:\n    pass", "q1-check"), "timeout", 4),
    "loop_that_swallows_the_alarm": (lambda s, e: _with_cell(
        s, "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass", "q1-check"), "timeout", 4),
    "kernel_crash": (lambda s, e: _with_cell(s, "import os\nos._exit(3)", "q1-check"), "crashed", 4),
    "runaway_memory": (lambda s, e: _with_cell(s, "hoard, n = [], 10**6\nwhile True:  # doubling until memory runs out\n    hoard.append(np.empty(n))\n    n *= 2", "q1-check"), "memory", 4),
    "monkeypatched_checker": (lambda s, e: _with_cell(e, MONKEYPATCH, "q2-check"), "tampered", 0),
    "patched_checker_and_a_graph": (lambda s, e: _with_cell(e, FALLBACK_ABUSE, "q2-check"), "tampered", 0),
    "fake_printed_scores": (lambda s, e: _with_cell(e, FAKE_SCORES, "score"), "ok", 0),
    "passes_only_the_public_checks": (lambda s, e: _replace(s, "q1-answer", PUBLIC_ONLY), "ok", 2),
}


def _grade(*args, check=True):
    cmd = [sys.executable, "-m", "gm_course.cli", "grade", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _rows(csv_path: Path) -> dict[str, dict]:
    with open(csv_path, newline="", encoding="utf-8") as f:
        return {Path(r["submission"]).stem: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One batch: every adversarial case, two broken files, every chapter's solution and exercise."""
    folder = tmp_path_factory.mktemp("submissions")
    solution, exercise = _nb("solutions"), _nb("exercises")
    for name, (build, _, _) in CASES.items():
        nbformat.write(build(solution, exercise), folder / f"{name}.ipynb")
    (folder / "corrupted.ipynb").write_text(nbformat.writes(solution)[:4000])
    (folder / "not_a_notebook.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n\x00binary")
    for chapter in NOTEBOOK_CHAPTERS:
        for kind in ("solutions", "exercises"):
            nbformat.write(_nb(kind, chapter), folder / f"{kind}-{chapter}.ipynb")
    out = folder.parent / "out" / "results.csv"
    proc = _grade(folder, "--out", out, "--jobs", "2", *LIMITS)
    return out, _rows(out), proc


@pytest.mark.parametrize("name", list(CASES))
def test_each_adversarial_case_gets_its_status_and_only_the_points_it_earned(graded, name):
    _, rows, _ = graded
    _, status, points = CASES[name]
    row = rows[name]
    assert (row["status"], int(row["points"]), int(row["max_points"])) == (status, points, 4), row


@pytest.mark.parametrize("name", ["corrupted", "not_a_notebook"])
def test_broken_files_are_invalid_rows_not_failures_of_the_batch(graded, name):
    row = graded[1][name]
    assert row["status"] == "invalid" and "not a Jupyter notebook" in row["message"]


@pytest.mark.parametrize("chapter", NOTEBOOK_CHAPTERS)
def test_every_chapter_grades_in_batch_solutions_full_marks_exercises_zero(graded, chapter):
    rows = graded[1]
    solution, exercise = rows[f"solutions-{chapter}"], rows[f"exercises-{chapter}"]
    assert solution["status"] == "ok" and solution["points"] == solution["max_points"] != "0", solution
    assert exercise["status"] == "ok" and exercise["points"] == "0", exercise


def test_every_submission_has_one_row_a_journal_line_and_a_feedback_file(graded):
    out, rows, proc = graded
    assert len(rows) == len(CASES) + 2 + 2 * len(NOTEBOOK_CHAPTERS)
    journal = out.with_suffix(".jsonl").read_text().splitlines()
    assert len(journal) == len(rows)
    for row in rows.values():
        text = Path(row["feedback"]).read_text()
        assert f"Status: {row['status']}" in text and row["submission"] in text
    assert "joint_histogram" in next(iter(csv.reader(open(out))))  # one column per question


def test_feedback_says_why(graded):
    rows = graded[1]
    feedback = {name: Path(rows[name]["feedback"]).read_text() for name in rows}
    assert "hidden check: input case" in feedback["passes_only_the_public_checks"]
    assert "gm_course.grading.run_check" in feedback["monkeypatched_checker"]
    assert "FAIL conditional_density" in feedback["monkeypatched_checker"]  # patched at call time, still fails
    assert "died in cell" in feedback["kernel_crash"] and "exit code 3" in feedback["kernel_crash"]
    assert "SyntaxError" in feedback["syntax_error"]
    assert "MemoryError" in feedback["runaway_memory"]
    assert "was still running" in feedback["loop_that_swallows_the_alarm"]


def test_an_interrupted_run_keeps_its_rows_and_a_rerun_resumes(tmp_path):
    folder = tmp_path / "class"
    (folder / "empty").mkdir(parents=True)
    nbformat.write(_nb("solutions"), folder / "a_solution.ipynb")
    nbformat.write(_with_cell(_nb("solutions"), "import time\ntime.sleep(600)", "q1-check"), folder / "b_sleeper.ipynb")
    nbformat.write(_nb("solutions", "02_maximum_likelihood_and_kl"), folder / "c_other_chapter.ipynb")
    out = tmp_path / "results.csv"
    journal = out.with_suffix(".jsonl")
    cmd = [sys.executable, "-m", "gm_course.cli", "grade", str(folder), str(folder / "empty"), "--out", str(out),
           "--chapter", CH1, "--jobs", "1", "--cell-timeout", "300"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 200
        while not (journal.exists() and len(journal.read_text().splitlines()) >= 2):
            assert time.monotonic() < deadline and proc.poll() is None, "no row was written"
            time.sleep(0.2)
        time.sleep(1.0)  # the sleeper is now running
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert "empty folder" in output
    rows = _rows(out)
    assert set(rows) == {"a_solution", "c_other_chapter"}
    assert rows["c_other_chapter"]["status"] == "wrong_chapter"
    rerun = _grade(folder, "--out", out, "--chapter", CH1, "--jobs", "1", "--cell-timeout", "2")
    assert "2 submission(s) already graded" in rerun.stdout
    rows = _rows(out)
    assert {n: r["status"] for n, r in rows.items()} == {
        "a_solution": "ok", "b_sleeper": "timeout", "c_other_chapter": "wrong_chapter"}
    assert rows["b_sleeper"]["points"] == "4"  # the sleeping cell timed out; the answers still count
    assert len(journal.read_text().splitlines()) == 3


def test_an_empty_folder_alone_gives_an_empty_table(tmp_path):
    (tmp_path / "nothing").mkdir()
    proc = _grade(tmp_path / "nothing", "--out", tmp_path / "r.csv")
    assert "empty folder" in proc.stdout and "no submissions found" in proc.stdout
    assert (tmp_path / "r.csv").read_text().startswith("submission,chapter,status,points")


# ----------------------------------------------------------------------------- pieces

def test_prepare_cells_drops_setup_install_and_grader_lines_keeping_blocks_valid():
    nb = _nb("solutions")
    nb.cells.append(nbformat.v4.new_code_cell("if True:\n    %pip install foo\n    !ls\nx = 1"))
    cells = batch.prepare_cells(nb)
    sources = "\n".join(src for _, src in cells)
    assert "find_spec" not in sources and "Grader(" not in sources and "grader.check(" not in sources
    assert cells[-1][1] == "if True:\n    pass\n    pass\nx = 1"
    assert any("def joint_histogram" in src for _, src in cells)


def test_chapter_comes_from_the_grader_line_then_the_file_name(tmp_path):
    settings = batch.Settings(out=tmp_path / "r.csv", chapter=CH1)
    path = tmp_path / "x.ipynb"
    nbformat.write(_nb("solutions", "02_maximum_likelihood_and_kl"), path)
    assert batch.read_submission(path, settings, CHAPTERS)["status"] == "wrong_chapter"
    nb = _nb("exercises")
    nb.cells = [c for c in nb.cells if "Grader(" not in c.source]
    assert batch.chapter_of(nb, Path(f"bob_{CH1}.ipynb"), CHAPTERS) == CH1
    assert batch.chapter_of(nb, Path("bob.ipynb"), CHAPTERS) is None


def test_extra_hidden_checks_from_a_file(tmp_path):
    extra = tmp_path / "mine.py"
    extra.write_text(f"def never(fn):\n    raise AssertionError\nHIDDEN = {{'{CH1}': {{'joint_histogram': [never]}}}}\n")
    questions = batch.chapter_questions(batch.Settings(checks=extra))
    question, hidden = questions[CH1]["joint_histogram"]
    assert hidden[:-1] == question.hidden and hidden[-1].__name__ == "never"


def test_a_torn_journal_line_is_ignored(tmp_path):
    journal = tmp_path / "r.jsonl"
    journal.write_text(json.dumps({"path": "/a", "status": "ok"}) + "\n" + '{"path": "/b", "sta')
    assert list(batch.load_journal(journal)) == ["/a"]


def test_values_survive_the_codec_and_unknown_ones_keep_their_type_name():
    codec = Channel(-1, -1)
    g = torch.Generator().manual_seed(3)
    values = (torch.arange(4.0), np.arange(3), np.float32(1.5), [1, "a", None], {"k": (2.0,)},
              torch.float64, torch.Size([2, 3]))
    back = codec.decode(codec.encode(values))
    assert torch.equal(back[0], values[0]) and isinstance(back[1], np.ndarray) and back[1].tolist() == [0, 1, 2]
    assert type(back[2]) is np.float32 and back[3:] == values[3:]
    g2 = codec.decode(codec.encode(g))
    assert torch.equal(g2.get_state(), g.get_state())

    class Thing:
        pass

    assert type(codec.decode(codec.encode(Thing()))).__name__ == "Thing" and codec.limited


def test_the_judge_grades_a_question_without_hidden_checks_passing_functions_and_generators():
    cells = [(1, "def step(x, score_fn, generator):\n"
                 "    return x + 0.1 * score_fn(x) + torch.randn(x.shape, generator=generator, dtype=x.dtype)"),
             (2, "def doubled(x):\n    x.mul_(2)\n    return x")]

    def check_step(fn):
        x, g, ref = torch.randn(5, dtype=torch.float64), torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
        out = fn(x, lambda v: -v, g)  # a callable crosses to the learner and is called back here
        if not torch.allclose(out, 0.9 * x + torch.randn(5, generator=ref, dtype=torch.float64)):
            raise CheckFailed("wrong step")
        if not torch.equal(g.get_state(), ref.get_state()):
            raise CheckFailed("the generator did not advance")

    def check_pure(fn):
        x = torch.ones(3)
        fn(x)
        if not torch.equal(x, torch.ones(3)):
            raise CheckFailed("changed its input in place")

    questions = {"step": (Question(1, check_step, "a step"), ()),
                 "doubled": (Question(1, check_pure, "twice x"), ())}
    zygote = Zygote(sandboxed=True)
    try:
        out = judge(cells, batch._preload(), questions,
                    {"cell_timeout": 20, "timeout": 60, "memory_mb": 4096}, zygote)
    finally:
        zygote.close()
    assert out["status"] == "ok", out
    assert [(q["name"], q["status"]) for q in out["questions"]] == [("step", "PASS"), ("doubled", "FAIL")]
    assert "in place" in out["questions"][1]["reason"]
