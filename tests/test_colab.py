"""Colab, emulated: a chapter runs in a kernel that has only what Colab preinstalls.

The emulated Colab is a fresh virtual environment (``_build/colab-venv``, reused between runs)
holding Colab's preinstalled packages that the course relies on — numpy, torch (the CPU
build), matplotlib, scikit-learn (with scipy) — plus the kernel machinery (ipykernel,
nbclient). It never holds ``gm_course``: the test removes it first and checks that it cannot
be imported. Then it executes the first chapter of the table of contents there with
``GM_COURSE_SPEC`` pointing at this checkout, exactly as Colab runs it with the default
spec (the project's git URL): the notebook's setup cell must ``%pip install`` the package,
and the chapter must run to the end. A cell appended to the copy checks that ``gm_course``
was imported from the environment's site-packages (a real install, not this source tree).

The measured times are written to ``_build/colab-emulation.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import venv

import nbformat
import pytest

from conftest import BUILD, ROOT, toc_chapters

VENV = BUILD / "colab-venv"
# What Colab preinstalls that the course uses, and what runs a notebook (no gm_course).
PREINSTALLED = ["numpy", "matplotlib", "scikit-learn", "scipy", "ipykernel", "nbclient", "nbformat"]
TORCH = os.environ.get("TORCH_VERSION", "2.13.0")

RUNNER = r"""
import json, sys, time, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
start = time.perf_counter()
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
seconds = time.perf_counter() - start
setup = next(c for c in nb.cells if c.cell_type == "code").metadata["execution"]
from datetime import datetime
t0, t1 = (datetime.fromisoformat(setup[k].replace("Z", "+00:00")) for k in ("iopub.execute_input", "shell.execute_reply"))
print(json.dumps({"seconds": seconds, "setup_seconds": (t1 - t0).total_seconds(),
                  "last": "".join(o.get("text", "") for o in nb.cells[-1].outputs)}))
"""

CHECK_CELL = """\
import importlib.metadata, gm_course
print("gm_course", importlib.metadata.version("gm-course"), "from", gm_course.__file__)"""


def venv_python():
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def make_colab_venv() -> float:
    """Create (or reuse) the emulated Colab environment; return the seconds spent creating it."""
    key = hashlib.sha256(json.dumps([PREINSTALLED, TORCH, sys.version]).encode()).hexdigest()[:16]
    stamp = VENV / "colab-emulation.key"
    if stamp.exists() and stamp.read_text() == key and venv_python().exists():
        return 0.0
    start = time.perf_counter()
    venv.EnvBuilder(clear=True, with_pip=True).create(VENV)
    py = str(venv_python())
    env = {**os.environ, "TORCH_VERSION": TORCH}
    subprocess.run([py, str(ROOT / "scripts" / "install_torch.py")], check=True, env=env)
    subprocess.run([py, "-m", "pip", "install", "--quiet", *PREINSTALLED], check=True)
    stamp.write_text(key)
    return time.perf_counter() - start


@pytest.mark.skipif(os.environ.get("GM_COURSE_SKIP_COLAB") == "1", reason="GM_COURSE_SKIP_COLAB=1")
def test_chapter_runs_in_emulated_colab(tmp_path):
    chapter = toc_chapters()[0]
    BUILD.mkdir(exist_ok=True)
    created = make_colab_venv()
    py = str(venv_python())
    subprocess.run([py, "-m", "pip", "uninstall", "--yes", "--quiet", "gm-course"], check=False,
                   capture_output=True)
    absent = subprocess.run([py, "-c", "import importlib.util as u; print(u.find_spec('gm_course') is None)"],
                            capture_output=True, text=True, check=True)
    assert absent.stdout.strip() == "True", "the emulated Colab must start without gm_course"

    nb = nbformat.read(ROOT / f"{chapter}.ipynb", as_version=4)
    assert "%pip install" in nb.cells[[c.cell_type for c in nb.cells].index("code")].source
    nb.cells.append(nbformat.v4.new_code_cell(CHECK_CELL))
    copy = tmp_path / "chapter.ipynb"
    nbformat.write(nb, str(copy))
    (tmp_path / "runner.py").write_text(RUNNER)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(GM_COURSE_SPEC=str(ROOT), MPLBACKEND="Agg", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PATH=f"{venv_python().parent}{os.pathsep}{env.get('PATH', '')}")
    start = time.perf_counter()
    proc = subprocess.run([py, str(tmp_path / "runner.py"), str(copy), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=1200)
    total = time.perf_counter() - start
    assert proc.returncode == 0, f"{chapter} failed in the emulated Colab:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert f"from {site}" in result["last"], f"gm_course was not installed into the environment: {result['last']}"
    timing = {"chapter": chapter, "venv_creation_s": round(created, 1),
              "setup_cell_with_install_s": round(result["setup_seconds"], 1),
              "chapter_with_install_s": round(result["seconds"], 1), "total_s": round(total, 1)}
    (BUILD / "colab-emulation.json").write_text(json.dumps(timing, indent=1) + "\n")
    print("colab emulation:", timing)
