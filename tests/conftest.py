"""Shared fixtures: the book is built once per test run, however many workers ask for it.

``built_site`` runs ``scripts/fetch_mathjax.py``, then, as ``make book`` does but with an
emptied execution cache and ``--all``, ``scripts/execute_book.py`` (every chapter executed
once, in parallel, into the cache) and the strict build (``jupyter-book build . -W -n
--keep-going``), the first time a test needs the site. That is where the book's chapters are
executed under test: their asserts fail it, and a failure names each broken chapter with its
traceback. The seconds of each chapter are kept in ``_build/book-execution.txt``. Under pytest-xdist each worker has its own session, so the build is guarded by
a file lock and stamped with the run's id: the first worker builds, the others wait and reuse
its result (including a failure, which every test that needs the site then reports).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
HTML = BUILD / "html"
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex


def toc_files() -> list[str]:
    """Every page of the table of contents, in order (e.g. ``book/intro``, ``book/01_…``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                yield entry["file"]
            yield from walk(entry.get("sections"))

    files = [toc["root"]]
    for part in toc.get("parts") or []:
        files += list(walk(part.get("chapters")))
    return files + list(walk(toc.get("chapters")))


def toc_chapters() -> list[str]:
    """The toc's notebook chapters that exist on disk (``book/NN_topic``)."""
    return [f for f in toc_files() if (ROOT / f"{f}.ipynb").exists()]


def _build() -> dict:
    if not JUPYTER_BOOK.exists():
        return {"ok": False, "log": "jupyter-book is not installed in this environment: run `make test`"}
    fetch = subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_mathjax.py")], cwd=ROOT,
                           capture_output=True, text=True)
    if fetch.returncode != 0:
        return {"ok": False, "log": f"fetching MathJax failed:\n{fetch.stdout}\n{fetch.stderr}"}
    # every page re-read and every chapter re-executed: a cached result would hide a change of
    # the package that breaks an unchanged chapter
    shutil.rmtree(BUILD / ".jupyter_cache", ignore_errors=True)
    started = time.time()
    # the chapters run in parallel into a fresh execution cache, then the build renders them
    # (and executes again, to show its traceback, any chapter that failed)
    execute = subprocess.run([sys.executable, str(ROOT / "scripts" / "execute_book.py")], cwd=ROOT,
                             capture_output=True, text=True, timeout=1800)
    proc = subprocess.run([str(JUPYTER_BOOK), "build", ".", "--all", "-W", "-n", "--keep-going"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)
    (BUILD / "book-execution.txt").write_text(execute.stdout)
    return {"ok": proc.returncode == 0 and execute.returncode == 0,
            "log": f"strict build failed:\n{_failed_notebooks(started)}{execute.stdout[-3000:]}\n"
                   f"{execute.stderr[-3000:]}\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"}


def _failed_notebooks(since: float) -> str:
    """The chapters whose execution failed in this build, each with the end of its traceback.

    The book's notebooks are executed by this build only (``allow_errors: false`` turns a
    failed assert into a build error), so this is where a broken chapter shows up.
    """
    reports = HTML / "reports"
    logs = sorted(p for p in reports.rglob("*.err.log") if p.stat().st_mtime >= since) if reports.exists() else []
    ansi = re.compile(r"\x1b\[[0-9;]*m")  # the tracebacks are coloured for a terminal
    return "".join(f"--- {p.relative_to(reports)} ---\n{ansi.sub('', p.read_text(errors='replace'))[-3000:]}\n"
                   for p in logs)


@pytest.fixture(scope="session")
def built_site() -> Path:
    """The strictly built site, ``_build/html`` (built at most once per test run)."""
    import fcntl

    BUILD.mkdir(exist_ok=True)
    stamp = BUILD / ".test-build.json"
    with open(BUILD / ".test-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other workers wait here while one builds
        try:
            result = json.loads(stamp.read_text()) if stamp.exists() else {}
        except json.JSONDecodeError:
            result = {}
        if result.get("run") != _RUN_ID:
            result = {"run": _RUN_ID, **_build()}
            stamp.write_text(json.dumps(result))
    if not result["ok"]:
        pytest.fail(result["log"], pytrace=False)
    return HTML
