"""Hostile submissions against the sandboxed grader: each must end with nothing lost.

One grading run holds two honest learners (alice, bob) and one notebook per attack, and uses a
private ``--checks`` file. A clean run grades alice and bob alone. For every attack: the
honest rows are identical to the clean run, the attacker gains no point, the run finishes,
and the attacker's row says what happened. The attacks know where everything is (the
absolute paths of the submissions, the results and the checks are written into them), as a
learner who guesses an instructor's layout would.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from gm_course import bubblewrap

ROOT = Path(__file__).resolve().parents[1]
CH1 = "01_density_by_counting"
MARKER = "hidden_marker_5e1f"  # appears only in the private checks file
DETACHED = "detached_marker_93b2"  # in the command line of processes the attacks leave behind

try:
    bubblewrap.probe()
    SANDBOX_ERROR = None
except bubblewrap.SandboxUnavailable as err:
    SANDBOX_ERROR = str(err)
pytestmark = pytest.mark.skipif(SANDBOX_ERROR is not None, reason=f"no sandbox: {SANDBOX_ERROR}")


def _nb(kind: str):
    return nbformat.read(ROOT / kind / f"{CH1}.ipynb", as_version=4)


def _answers_source() -> str:
    """The solution's answer cells: what an attack that succeeds would use to score."""
    return "\n\n".join(c.source for c in _nb("solutions").cells
                       if c.cell_type == "code" and c.get("id", "").endswith("-answer"))


def _attack(code: str):
    """The exercise (stubs, 0 points) with one more cell at the end running ``code``."""
    nb = copy.deepcopy(_nb("exercises"))
    nb.cells.append(nbformat.v4.new_code_cell(code))
    return nb


# {name: attack code}; {sub}, {out}, {checks}, {port}, {answers} are filled in per run
ATTACKS = {
    "copy_another_notebook": '''
import glob, json
for path in glob.glob({sub!r} + "/*.ipynb"):
    if "alice" in path:
        nb = json.load(open(path))
        exec("\\n".join("".join(c["source"]) for c in nb["cells"]
                        if c["cell_type"] == "code" and "def " in "".join(c["source"])))
''',
    "overwrite_the_results": '''
import os
row = {{"path": "x", "submission": "alice", "status": "ok", "points": 99}}
for name in ("results.jsonl", "results.csv"):
    try:
        with open(os.path.join({out!r}, name), "a") as f:
            f.write(str(row) + "\\n")
    finally:
        open(os.path.join({out!r}, name), "w").close()
''',
    "delete_another_notebook": '''
import os
for learner in ("alice", "bob"):
    path = os.path.join({sub!r}, learner + ".ipynb")
    try:
        open(path, "w").write("{{}}")
    finally:
        os.remove(path)
''',
    "read_the_checks": '''
import gc, glob, os, sys
found = False
for path in [f"/proc/{{os.getppid()}}/cmdline", "/proc/1/cmdline", *glob.glob("/proc/*/cmdline"),
             *glob.glob("/proc/*/environ"), {checks!r}]:
    try:
        text = open(path, "rb").read().decode(errors="replace")
    except OSError:
        continue
    found |= "--checks" in text or {marker!r} in text
found |= any({marker!r} in name for name in sys.modules)
for obj in gc.get_objects():  # a loaded check: a function named after the marker
    try:
        found |= callable(obj) and getattr(obj, "__name__", "") == {marker!r}
        code = getattr(obj, "__code__", None)
        found |= getattr(code, "co_filename", None) == {checks!r}
    except Exception:
        pass
if found:
    exec({answers!r})
''',
    "open_a_socket": '''
import socket
with socket.create_connection(("127.0.0.1", {port}), timeout=2) as s:
    s.sendall(b"hello")
exec({answers!r})
''',
    "leave_a_detached_process": '''
import os, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", {detached!r}],
                 start_new_session=True)
if os.fork() == 0:  # a double fork: the grandchild is nobody's child
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)",
                                  {detached!r}])
    os._exit(0)
os.wait()
''',
    "fork_bomb": '''
import os, time
children = []
for _ in range(48):
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children.append(pid)
''',
    "flood_the_output": '''
line = "x" * (1 << 20)
for _ in range(100):
    print(line)
''',
    "answers_equal_to_anything": '''
import os
import numpy as np, torch

class Always(np.ndarray):
    def __eq__(self, other): return np.ones(np.shape(other), bool)
    def __array_finalize__(self, obj): pass

class AlwaysTensor(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.tensor(True)
    def __eq__(self, other): return True

class Sneaky:
    def __eq__(self, other): return True
    def __reduce__(self): return (os.system, ("echo pwned > /tmp/pwned_5e1f",))

def joint_histogram(x, y, bins_x, bins_y, x_range, y_range):
    return torch.zeros(bins_x, bins_y, dtype=torch.float64).as_subclass(AlwaysTensor)

def conditional_density(joint, dy):
    return Sneaky()
''',
}
# the status each attacker's row must show (the honest rows: "ok", full points)
EXPECTED_STATUS = {
    "copy_another_notebook": "ok", "overwrite_the_results": "error",
    "delete_another_notebook": "error", "read_the_checks": "ok", "open_a_socket": "error",
    "leave_a_detached_process": "error", "fork_bomb": "error", "flood_the_output": "ok",
    "answers_equal_to_anything": "ok",
}
CHECKS = f'''
def {MARKER}(fn):
    """A private check: its name and this text exist only in the instructor's file."""

HIDDEN = {{"{CH1}": {{"joint_histogram": [{MARKER}]}}}}
'''


def _rows(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {Path(r["submission"]).stem: r for r in csv.DictReader(f)}


def _leftovers() -> list[str]:
    """Processes on this machine whose command line holds the detached marker."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and DETACHED in (entry / "cmdline").read_text(errors="replace"):
                found.append(entry.name)
        except OSError:
            pass
    return found


def _grade(folder: Path, out: Path, checks: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "gm_course.cli", "grade", str(folder), "--out", str(out),
           "--chapter", CH1, "--jobs", "2", "--cell-timeout", "10", "--timeout", "90",
           "--memory-mb", "1024", "--checks", str(checks)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(clean rows, attacked rows, the attacked run, connections the listener saw, hashes of
    the honest notebooks before and after)."""
    base = tmp_path_factory.mktemp("isolation")
    checks = base / "private" / "checks.py"
    checks.parent.mkdir()
    checks.write_text(CHECKS)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    solution = _nb("solutions")
    results = {}
    for run in ("clean", "attacked"):
        folder, out = base / run / "submissions", base / run / "out"
        folder.mkdir(parents=True)
        for learner in ("alice", "bob"):
            nbformat.write(solution, folder / f"{learner}.ipynb")
        if run == "attacked":
            values = {"sub": str(folder), "out": str(out), "checks": str(checks),
                      "port": listener.getsockname()[1], "answers": _answers_source(),
                      "marker": MARKER, "detached": DETACHED}
            for name, code in ATTACKS.items():
                nbformat.write(_attack(code.format(**values)), folder / f"attack_{name}.ipynb")
        honest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in map(folder.joinpath, ("alice.ipynb", "bob.ipynb"))}
        proc = _grade(folder, out / "results.csv", checks)
        after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in map(folder.joinpath, ("alice.ipynb", "bob.ipynb"))}
        results[run] = (proc, _rows(out / "results.csv"), out, honest, after)
    stop.set()
    thread.join()
    listener.close()
    return results, connections


def test_both_runs_finish(runs):
    results, _ = runs
    for run, (proc, rows, *_rest) in results.items():
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert set(results["attacked"][1]) == {"alice", "bob"} | {f"attack_{n}" for n in ATTACKS}


def test_honest_rows_are_identical_to_the_clean_run_and_their_notebooks_untouched(runs):
    results, _ = runs
    clean, attacked = results["clean"][1], results["attacked"][1]
    keep = ("status", "points", "max_points", "joint_histogram", "conditional_density", "message")
    for learner in ("alice", "bob"):
        assert {k: attacked[learner][k] for k in keep} == {k: clean[learner][k] for k in keep}
        assert attacked[learner]["status"] == "ok" and attacked[learner]["points"] == "4"
    _, _, _, before, after = results["attacked"]
    assert before == after and len(before) == 2


def test_the_results_files_hold_exactly_the_graded_rows(runs):
    results, _ = runs
    out = results["attacked"][2]
    lines = (out / "results.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]  # every line is a row the grader wrote
    assert sorted(Path(r["submission"]).stem for r in rows) == sorted(results["attacked"][1])
    assert all(r["points"] <= r["max_points"] for r in rows)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_each_attacker_gains_nothing_and_its_row_says_what_happened(runs, name):
    results, _ = runs
    row = results["attacked"][1][f"attack_{name}"]
    assert int(row["points"]) == 0, row
    assert row["status"] == EXPECTED_STATUS[name], row
    feedback = Path(row["feedback"]).read_text()
    if name in ("overwrite_the_results", "delete_another_notebook"):
        assert "No such file or directory" in feedback or "Read-only" in feedback, feedback
    if name == "open_a_socket":
        assert "Network is unreachable" in feedback or "Connection refused" in feedback, feedback
    if name in ("leave_a_detached_process", "fork_bomb"):
        assert "process(es) running after grading; the sandbox killed them" in feedback, feedback


def test_no_connection_reached_the_host_and_no_process_outlived_grading(runs):
    _, connections = runs
    assert connections == []
    assert _leftovers() == []
    assert not Path("/tmp/pwned_5e1f").exists()


def test_without_bubblewrap_the_grader_refuses_unless_told_it_is_unsafe(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "bwrap").write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\n"
                                    "exit 1\n")
    (fake_bin / "bwrap").chmod(0o755)
    folder = tmp_path / "sub"
    folder.mkdir()
    nbformat.write(_nb("solutions"), folder / "alice.ipynb")
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "gm_course.cli", "grade", str(folder), "--out",
           str(tmp_path / "out" / "results.csv"), "--jobs", "1"]
    refused = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert refused.returncode == 3 and "REFUSED" in refused.stderr
    assert "No permissions to create new namespace" in refused.stderr
    assert "--unsafe-no-sandbox" in refused.stderr and not (tmp_path / "out").exists()
    unsafe = subprocess.run(cmd + ["--unsafe-no-sandbox"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert unsafe.returncode == 0 and "WARNING" in unsafe.stderr, unsafe.stderr
    assert _rows(tmp_path / "out" / "results.csv")["alice"]["points"] == "4"


def test_private_paths_inside_the_mounted_environment_are_refused(tmp_path):
    inside = bubblewrap.mounted_folders()[0] / "results.csv"
    with pytest.raises(ValueError, match="which the sandbox shows to every submission"):
        bubblewrap.check_paths_hidden([tmp_path, inside])
