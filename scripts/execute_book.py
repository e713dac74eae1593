"""Execute the book's notebooks in parallel into the build's execution cache.

The book is built with ``execute_notebooks: cache``: a page whose code is already in the
jupyter-cache store (``_build/.jupyter_cache``) is rendered from it, any other page is
executed by the build itself, one after another. Running this first fills the store in
parallel (one process per core, jupyter-cache's own worker for each notebook, which stops
the kernel once its last cell has run), so the build that follows executes nothing that is
up to date and only renders. Each notebook is still executed exactly once, with the book's
timeout and ``allow_errors: false``; a notebook that fails is left out of the store, so the
build executes it again and reports its traceback as usual.

The longest notebooks start first and each process takes the next notebook as soon as it is
free (longest-processing-time-first), so the run does not end with one long chapter alone on
one core. The expected seconds are those of the last run (``_build/book-execution.txt``,
this script's own output); without that file, the chapters of ``SLOW_FIRST`` lead.

Usage:  python scripts/execute_book.py [--cache _build/.jupyter_cache]
Prints one line per notebook executed, with its seconds; exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import re
import sys
import time
from pathlib import Path

import yaml
from jupyter_cache import get_cache
from jupyter_cache.cache.db import NbProjectRecord
from jupyter_cache.executors.basic import ExecutionWorkerLocalMProc, ProcessData
from jupyter_cache.executors.utils import single_nb_execution

ROOT = Path(__file__).resolve().parents[1]
LAST_RUN = ROOT / "_build" / "book-execution.txt"
SLOW_FIRST = ("book/09_unet_on_digits.ipynb",)  # by far the longest chapter (a U-Net)


class ExecutionWorker(ExecutionWorkerLocalMProc):
    """jupyter-cache's worker, with the kernel stopped as soon as its last cell has run.

    nbclient's default ("graceful") lets the kernel finish on its own, and a kernel that has
    imported torch then spends about a second of CPU cleaning up (0.5 s after nothing but
    ``import torch``) with nothing left to record; "immediate" skips that.
    """

    @staticmethod
    def execute(project_nb, data):
        return single_nb_execution(project_nb.nb, cwd=str(Path(project_nb.uri).parent),
                                   timeout=data.timeout, allow_errors=data.allow_errors,
                                   shutdown_kernel="immediate")


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks of the table of contents, in its order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                yield entry["file"]
            yield from walk(entry.get("sections"))

    files = [toc["root"], *walk(toc.get("chapters"))]
    for part in toc.get("parts") or []:
        files += list(walk(part.get("chapters")))
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").exists()]


def expected_seconds(paths: list[Path], last_run: Path = LAST_RUN) -> dict[Path, float]:
    """Seconds each notebook took in the last run, or a rank that puts ``SLOW_FIRST`` first."""
    seen = {}
    if last_run.exists():
        for name, seconds in re.findall(r"^executed (\S+) in ([0-9.]+) s$", last_run.read_text(), re.M):
            seen[ROOT / name] = float(seconds)
    slow = {ROOT / name for name in SLOW_FIRST}
    return {p: seen.get(p, 1e6 if p in slow else 0.0) for p in paths}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache")
    args = parser.parse_args(argv)
    execute = yaml.safe_load((ROOT / "_config.yml").read_text()).get("execute", {})
    if execute.get("execute_notebooks") != "cache" or execute.get("run_in_temp"):
        print("the book is not built with `execute_notebooks: cache` in place: nothing to do")
        return 0

    cache = get_cache(str(args.cache))
    paths = toc_notebooks()
    records = [cache.add_nb_to_project(str(path)) for path in paths]
    todo = cache.list_unexecuted(filter_pks=[r.pk for r in records])
    expected = expected_seconds(paths)
    todo.sort(key=lambda r: -expected.get(Path(r.uri), 0.0))  # longest first
    NbProjectRecord.remove_tracebacks([r.pk for r in todo], cache.db)
    jobs = [ProcessData(r.pk, r.uri, cache, execute.get("timeout", 30), execute.get("allow_errors", False))
            for r in todo]
    started = time.perf_counter()
    succeeded, failed = [], []
    if jobs:
        multiprocessing.log_to_stderr(logging.WARNING)  # a failed notebook says why
        with multiprocessing.Pool(min(os.cpu_count() or 1, len(jobs))) as pool:
            # chunksize 1: a free process takes the next notebook, in the order above
            for status, uri in pool.imap_unordered(ExecutionWorker(), jobs, chunksize=1):
                (succeeded if status == 0 else failed).append(uri)
    wall = time.perf_counter() - started
    for uri in succeeded:
        record = cache.get_cached_project_nb(uri)
        seconds = record.data.get("execution_seconds", float("nan")) if record else float("nan")
        print(f"executed {Path(uri).relative_to(ROOT)} in {seconds:.1f} s")
    for uri in failed:
        print(f"FAILED {Path(uri).relative_to(ROOT)} (the build will show its traceback)")
    print(f"{len(succeeded)} notebook(s) executed, {len(failed)} failed, "
          f"{len(records) - len(succeeded) - len(failed)} up to date; {wall:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
