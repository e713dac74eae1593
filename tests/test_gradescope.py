"""The Gradescope autograder (``gm-course gradescope``), end to end in an emulated container.

Gradescope unpacks the zip in ``/autograder/source``, runs ``setup.sh`` once, then for every
submission puts the learner's files in ``/autograder/submission``, runs
``/autograder/run_autograder`` and reads ``/autograder/results/results.json``. Here a
temporary folder plays ``/autograder`` (``GMC_AUTOGRADER_ROOT``): the zip is built with the
CLI, unpacked with its file modes, ``setup.sh`` installs the bundled wheel offline into a
virtual environment that borrows this interpreter's libraries, and ``run_autograder`` grades
one submission per emulated container (its own root; the image's ``source/`` and the virtual
environment are shared): the solutions (full marks), a wrong answer that only the hidden
checks catch (partial marks, reasons after the due date), a hostile notebook, an empty
submission and files that are not notebooks.

``results.json`` is checked against Gradescope's published "Autograder Specifications"
(the autograder documentation's "Output format" section): top-level ``score``,
``execution_time`` (seconds), ``output``, ``visibility``, ``stdout_visibility``,
``extra_data`` and ``tests``; each test has ``name``, ``score``, ``max_score``, ``status``
(``passed`` or ``failed``), ``output`` and ``visibility``, one of ``hidden``,
``after_due_date``, ``after_published`` and ``visible``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import site
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from gm_course import bubblewrap, cli, gradescope

ROOT = Path(__file__).resolve().parents[1]
CH1 = "01_density_by_counting"  # its solutions grade in about a second
MARKER = "private_check_4b7e"  # the name of the private check, only in hidden_checks.py
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
TOP_LEVEL = {"score", "execution_time", "output", "visibility", "stdout_visibility",
             "extra_data", "tests", "output_format", "test_output_format",
             "test_name_format", "leaderboard"}
TEST_KEYS = {"name", "score", "max_score", "status", "output", "visibility", "number",
             "tags", "name_format", "output_format", "extra_data"}

try:
    bubblewrap.probe()
    SANDBOX_ERROR = None
except bubblewrap.SandboxUnavailable as err:
    SANDBOX_ERROR = str(err)
needs_sandbox = pytest.mark.skipif(SANDBOX_ERROR is not None,
                                   reason=f"no bubblewrap sandbox here: {SANDBOX_ERROR}")

CHECKS = f'''
import torch
from gm_course.grading import CheckFailed


def {MARKER}(fn):
    x, y = torch.tensor([0.1, 0.6, 0.6]), torch.tensor([0.1, 0.1, 0.9])
    got = fn(x, y, 2, 2, (0.0, 1.0), (0.0, 1.0))
    expected = torch.tensor([[4 / 3, 0.0], [4 / 3, 4 / 3]])
    if not torch.allclose(torch.as_tensor(got).double(), expected.double()):
        raise CheckFailed("three points on a 2 x 2 grid: wrong densities")


HIDDEN = {{"{CH1}": {{"joint_histogram": [{MARKER}]}}}}
'''

# passes the notebook's checks (tables of several rows) and fails the hidden single-row one
WRONG_CONDITIONAL = '''
def conditional_density(joint, dy):
    p_x = joint.sum(dim=1).squeeze() * dy
    ratio = joint / p_x[:, None]
    return torch.where(p_x[:, None] > 0, ratio, torch.zeros_like(ratio))
'''

# {root}: the emulated /autograder of this submission; {answers}: the solutions' answers
HOSTILE = [
    '''
import glob, os
stolen = ""
for path in [os.path.join({root!r}, "source", "hidden_checks.py"),
             "/autograder/source/hidden_checks.py",
             *glob.glob(os.path.join({root!r}, "**", "*.py"), recursive=True)]:
    try:
        stolen += open(path).read()
    except OSError:
        pass
if {marker!r} in stolen:
    exec({answers!r})
''',
    '''
import json, os, subprocess, sys
fake = {{"score": 100.0, "output": "hacked", "tests": []}}
for folder in (os.path.join({root!r}, "results"), "/autograder/results"):
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "results.json"), "w") as f:
            json.dump(fake, f)
    except OSError:
        pass
# a detached process that waits for the grader's own results.json and then replaces it
target = os.path.join({root!r}, "results", "results.json")
later = f"""
import json, os, time
for _ in range(150):
    time.sleep(0.2)
    if os.path.exists({{target!r}}) and "hacked" not in open({{target!r}}).read():
        json.dump({{fake!r}}, open({{target!r}}, "w"))
        break
"""
subprocess.Popen([sys.executable, "-c", later], start_new_session=True)
print("Score: 4/4 points")
''',
    '''
line = "x" * (1 << 20)
for _ in range(100):
    print(line)
''',
    '''
import time
while True:  # forever, but without burning the CPU the other containers share
    time.sleep(0.1)
''',
]


def _nb(kind: str):
    return nbformat.read(ROOT / kind / f"{CH1}.ipynb", as_version=4)


def _answers() -> str:
    return "\n\n".join(c.source for c in _nb("solutions").cells
                       if c.cell_type == "code" and c.get("id", "").endswith("-answer"))


def _unzip(archive: Path, folder: Path) -> None:
    """Unpack as ``unzip`` does, keeping each file's mode (setup.sh must stay executable)."""
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            path = Path(z.extract(info, folder))
            mode = (info.external_attr >> 16) & 0o7777
            if mode:
                path.chmod(mode)


def _base_python() -> str:
    """The interpreter this test's virtual environment was made from."""
    for name in (f"python{sys.version_info.major}.{sys.version_info.minor}", "python3"):
        candidate = Path(sys.base_prefix) / "bin" / name
        if candidate.exists():
            return str(candidate)
    return sys.executable


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The autograder's image: the zip built by the CLI, unpacked, ``setup.sh`` run offline.

    The virtual environment is made beforehand (``setup.sh`` keeps one that exists), without
    pip and with a ``.pth`` line that shows it this interpreter's libraries (torch, pip...);
    ``GMC_SKIP_SYSTEM=1`` skips apt and the torch download, ``GMC_PIP_ARGS`` keeps pip
    offline. So the test downloads nothing and installs only the wheel from the zip."""
    base = tmp_path_factory.mktemp("gradescope")
    checks = base / "my_checks.py"
    checks.write_text(CHECKS, encoding="utf-8")
    archive = base / "autograder.zip"
    code = cli.main(["gradescope", CH1, "--out", str(archive), "--checks", str(checks),
                     "--cell-timeout", "6", "--timeout", "60", "--memory-mb", "1024"])
    assert code == 0 and archive.exists()
    source = base / "image" / "source"
    _unzip(archive, source)
    names = {p.name for p in source.iterdir()}
    assert {"setup.sh", "run_autograder", "config.json", "hidden_checks.py"} <= names
    assert any(n.startswith("gm_course-") and n.endswith("-py3-none-any.whl") for n in names)
    for script in ("setup.sh", "run_autograder"):
        assert (source / script).stat().st_mode & stat.S_IXUSR, f"{script} is not executable"
    venv = base / "image" / "gmc-venv"
    subprocess.run([_base_python(), "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    inside = subprocess.run([str(venv / "bin" / "python"), "-c",
                             "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    (Path(inside) / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {**os.environ, "GMC_AUTOGRADER_ROOT": str(base / "image"), "GMC_VENV": str(venv),
           "GMC_SKIP_SYSTEM": "1", "GMC_PIP_ARGS": "--no-deps --no-index"}
    env.pop("PYTHONPATH", None)
    setup = subprocess.run([str(source / "setup.sh")], env=env, capture_output=True, text=True,
                           timeout=300)
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-2000:]
    where = subprocess.run([str(venv / "bin" / "python"), "-I", "-c",
                            "import gm_course; print(gm_course.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(venv), f"gm_course imported from {where}, not the wheel"
    return {"source": source, "venv": venv, "base": base}


def _container(image, name: str, files: dict[str, bytes]) -> Path:
    """A fresh emulated /autograder: the image's source/, the learner's files, no results."""
    root = image["base"] / name
    shutil.copytree(image["source"], root / "source")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    for relative, data in files.items():
        path = root / "submission" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _start(image, root: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(GMC_AUTOGRADER_ROOT=str(root), GMC_VENV=str(image["venv"]))
    return subprocess.Popen([str(root / "source" / "run_autograder")], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _finish(proc: subprocess.Popen, root: Path) -> tuple[dict, str]:
    out, _ = proc.communicate(timeout=180)
    text = out.decode(errors="replace")
    path = root / "results" / "results.json"
    assert path.exists(), text[-3000:]
    return _valid(json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_nan)), text


def _no_nan(name):
    raise AssertionError(f"results.json holds {name}, which is not JSON")


def _valid(results: dict) -> dict:
    """Assert the shape Gradescope's specification gives results.json; return it."""
    assert set(results) <= TOP_LEVEL, set(results) - TOP_LEVEL
    assert isinstance(results["score"], (int, float)) and not isinstance(results["score"], bool)
    assert isinstance(results["execution_time"], (int, float)) and results["execution_time"] >= 0
    assert isinstance(results["output"], str) and results["output"]
    assert results["visibility"] in VISIBILITY and results["stdout_visibility"] in VISIBILITY
    assert isinstance(results["tests"], list)
    for test in results["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test) <= TEST_KEYS
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] in VISIBILITY and test["status"] in ("passed", "failed")
    assert sum(t["score"] for t in results["tests"]) == pytest.approx(results["score"])
    return results


def _by_name(results: dict) -> dict:
    return {t["name"]: t for t in results["tests"]}


def _notebook_bytes(nb) -> bytes:
    return nbformat.writes(nb).encode("utf-8")


def _hostile(root: Path) -> bytes:
    """The exercise notebook (0 points) with the attacks of :data:`HOSTILE` on ``root``."""
    nb = copy.deepcopy(_nb("exercises"))
    for code in HOSTILE:
        nb.cells.append(nbformat.v4.new_code_cell(
            code.format(root=str(root), marker=MARKER, answers=_answers())))
    return _notebook_bytes(nb)


@needs_sandbox
def test_gradescope_end_to_end(image):
    solutions = (ROOT / "solutions" / f"{CH1}.ipynb").read_bytes()
    wrong = copy.deepcopy(_nb("solutions"))
    next(c for c in wrong.cells if c.get("id") == "q2-answer").source = WRONG_CONDITIONAL
    cases = {"solutions": {f"{CH1}.ipynb": solutions},
             "wrong": {f"learner/{CH1}.ipynb": _notebook_bytes(wrong), "notes.txt": b"hi"},
             "hostile": {f"{CH1}.ipynb": _hostile(image["base"] / "hostile")},
             "unsafe": {f"{CH1}.ipynb": _hostile(image["base"] / "unsafe")}}
    roots = {name: _container(image, name, files) for name, files in cases.items()}
    secret = (roots["hostile"] / "source" / "hidden_checks.py").read_bytes()
    # the same attack against a zip built with --unsafe-no-sandbox (what it writes in config.json)
    config = json.loads((roots["unsafe"] / "source" / "config.json").read_text())
    (roots["unsafe"] / "source" / "config.json").write_text(json.dumps({**config, "sandbox": False}))
    # one container per submission, as on Gradescope; started together to save time
    procs = {name: _start(image, root) for name, root in roots.items()}
    unsafe_log = procs.pop("unsafe").communicate(timeout=180)[0].decode(errors="replace")
    results = {name: _finish(proc, roots[name])[0] for name, proc in procs.items()}

    # (a) the solutions: full marks, every check passed, hidden ones shown after the due date
    full = results["solutions"]
    assert full["score"] == 4.0 and full["visibility"] == "visible"
    tests = _by_name(full)
    assert tests["joint_histogram"]["score"] == tests["joint_histogram"]["max_score"] == 2.0
    assert tests["conditional_density"]["score"] == 2.0
    assert all(t["status"] == "passed" for t in full["tests"])
    hidden = [t for t in full["tests"] if t["name"].endswith(": hidden checks")]
    assert len(hidden) == 2 and all(t["visibility"] == "after_due_date" for t in hidden)
    assert all(t["max_score"] == 0 for t in hidden)
    assert full["extra_data"]["sha256"] == hashlib.sha256(solutions).hexdigest()

    # (b) a wrong answer the notebook's own checks miss: partial marks; the learner sees at
    # once that the hidden checks decided, and which input case failed after the due date
    part = results["wrong"]
    tests = _by_name(part)
    print("wrong answer:", part["score"], tests["conditional_density"]["output"])
    assert part["score"] == 2.0 and tests["joint_histogram"]["score"] == 2.0
    cond, cond_hidden = tests["conditional_density"], tests["conditional_density: hidden checks"]
    assert cond["score"] == 0 and cond["status"] == "failed" and cond["visibility"] == "visible"
    assert "hidden checks" in cond["output"]
    assert cond_hidden["visibility"] == "after_due_date"
    assert "IndexError" in cond_hidden["output"] and "IndexError" not in cond["output"]

    # (c) the hostile notebook: no point, the results file is the grader's, the checks intact
    bad = results["hostile"]
    print("hostile:", bad["score"], bad["output"].splitlines()[:2])
    assert bad["score"] == 0 and all(t["score"] == 0 for t in bad["tests"])
    assert bad["extra_data"]["status"] == "timeout" and "hacked" not in bad["output"]
    assert "ran out of time (limit 6 s)" in bad["output"]
    assert "Score: 4/4" not in bad["output"] and "x" * 1000 not in json.dumps(bad)
    assert bad["extra_data"]["sha256"] == hashlib.sha256(cases["hostile"][f"{CH1}.ipynb"]).hexdigest()
    assert (roots["hostile"] / "source" / "hidden_checks.py").read_bytes() == secret
    assert sorted(p.name for p in (roots["hostile"] / "results").iterdir()) == ["results.json"]
    time.sleep(2.0)  # the detached writer would have struck by now, had it survived
    again = json.loads((roots["hostile"] / "results" / "results.json").read_text())
    assert again == bad

    # without the sandbox the attack is real: the private checks are read, the answers run,
    # and a process left behind replaces the grader's results.json after it was written
    assert "timeout 4/4" in unsafe_log and "score 4" in unsafe_log, unsafe_log[-2000:]
    path = roots["unsafe"] / "results" / "results.json"
    for _ in range(100):
        if "hacked" in path.read_text():
            break
        time.sleep(0.1)
    assert json.loads(path.read_text())["score"] == 100.0


def test_gradescope_nothing_to_grade(image):
    """An empty submission, no notebook among the files, a PDF renamed .ipynb: 0 points, a
    reason the learner sees, and no test entries. Runs without bubblewrap too: then the
    renamed PDF gets the explanation that the sandbox could not start."""
    cases = {"empty": {}, "no_notebook": {"answers.py": b"def f(): pass\n", "a.pdf": b"%PDF-1.4"},
             "not_json": {f"{CH1}.ipynb": b"%PDF-1.4 not a notebook"}}
    roots = {name: _container(image, name, files) for name, files in cases.items()}
    procs = {name: _start(image, root) for name, root in roots.items()}
    results = {name: _finish(proc, roots[name])[0] for name, proc in procs.items()}
    for name in ("empty", "no_notebook"):
        assert results[name]["score"] == 0 and results[name]["tests"] == []
        assert "No .ipynb file was submitted" in results[name]["output"]
    assert results["not_json"]["score"] == 0 and results["not_json"]["tests"] == []
    if SANDBOX_ERROR is None:
        assert "not a Jupyter notebook" in results["not_json"]["output"]
    else:
        assert "could not start its sandbox" in results["not_json"]["output"]


# ----------------------------------------------------------------------------- unit tests

def test_results_json_fields_and_visibility():
    row = {"status": "ok", "points": 2, "max_points": 4, "chapter": CH1, "sha256": "ab",
           "questions": [
               {"name": "a", "points": 2, "max_points": 2, "status": "PASS",
                "reason": "all input cases correct", "how": "isolated"},
               {"name": "b", "points": 0, "max_points": 2, "status": "FAIL",
                "reason": "hidden check: input case 2: wrong shape", "how": "isolated"}]}
    results = _valid(gradescope.results_json(row, hidden_questions=["b"], seconds=2.6))
    assert results["execution_time"] == 3 and isinstance(results["execution_time"], int)
    tests = _by_name(results)
    assert [t["name"] for t in results["tests"]] == ["a", "b", "b: hidden checks"]
    assert "input case 2" not in tests["b"]["output"]
    assert tests["b: hidden checks"]["output"] == "input case 2: wrong shape"
    assert tests["b: hidden checks"]["visibility"] == "after_due_date"
    empty = _valid(gradescope.results_json(None, note="nothing"))
    assert empty["score"] == 0 and empty["output"] == "nothing"


def test_unsafe_no_sandbox_reaches_the_settings(tmp_path):
    """``--unsafe-no-sandbox`` is written into config.json and turns the sandbox off."""
    out = tmp_path / "ag.zip"
    assert cli.main(["gradescope", CH1, "--out", str(out), "--package-spec", "gm-course",
                     "--unsafe-no-sandbox"]) == 0
    config = json.loads(zipfile.ZipFile(out).read("config.json"))
    assert config["sandbox"] is False
    assert gradescope.settings_for(config, tmp_path, tmp_path).sandbox is False
    assert cli.main(["gradescope", CH1, "--out", str(out), "--package-spec", "gm-course"]) == 0
    config = json.loads(zipfile.ZipFile(out).read("config.json"))
    assert config["sandbox"] is True and gradescope.settings_for(config, tmp_path, tmp_path).sandbox
    del config["sandbox"]  # a zip built before the option existed keeps the sandbox
    assert gradescope.settings_for(config, tmp_path, tmp_path).sandbox is True


def test_sandbox_unavailable_is_explained(tmp_path, monkeypatch, capsys):
    """Where bubblewrap cannot start, nothing runs: 0 points, the reason for the learner,
    the remedy for the instructor (in the output only instructors see)."""
    def refuse():
        raise bubblewrap.SandboxUnavailable("bubblewrap could not start a sandbox here: "
                                            "No permissions to create new namespace")

    monkeypatch.setattr(bubblewrap, "probe", refuse)
    assert cli.main(["gradescope", CH1, "--out", str(tmp_path / "ag.zip"),
                     "--package-spec", "gm-course"]) == 0
    _unzip(tmp_path / "ag.zip", tmp_path / "source")
    (tmp_path / "submission").mkdir()
    shutil.copy(ROOT / "solutions" / f"{CH1}.ipynb", tmp_path / "submission")
    assert gradescope.main(["--root", str(tmp_path)]) == 0
    results = _valid(json.loads((tmp_path / "results" / "results.json").read_text()))
    assert results["score"] == 0 and results["tests"] == []
    assert "could not start its sandbox" in results["output"]
    assert "No permissions to create new namespace" in results["output"]
    assert "--unsafe-no-sandbox" in capsys.readouterr().out


def test_choose_submission(tmp_path):
    assert gradescope.choose_submission(tmp_path, CH1)[0] is None
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / f"{CH1}-checkpoint.ipynb").write_text("{}")
    (tmp_path / "scratch.ipynb").write_text("{}")
    assert gradescope.choose_submission(tmp_path, CH1)[0] == tmp_path / "scratch.ipynb"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / f"my_{CH1}.ipynb").write_text("{}")
    assert gradescope.choose_submission(tmp_path, CH1)[0] == tmp_path / "sub" / f"my_{CH1}.ipynb"
    (tmp_path / f"{CH1}.ipynb").write_text("{}")
    chosen, why = gradescope.choose_submission(tmp_path, CH1)
    assert chosen is None and "Several notebooks" in why
