"""Chapter benchmark: execute every book and solution notebook, report seconds beside budgets.

Each notebook runs in a fresh kernel ``--repeats`` times; the table shows the median wall
seconds from starting the kernel to the end of the last cell, what a reader waits for (this
machine is shared and noisy: medians, with the spread), the median CPU seconds of the kernel
(user + system over its whole life, less sensitive to other load), the median seconds the
kernel took to shut down afterwards (about a second of the kernel's own clean-up in any
notebook, which no reader waits for, so it is shown apart and not held against the
budget), the notebook's budget and the headline numbers it printed with
``gm_course.report.headline``.

Budgets (2 idle CPU cores): every chapter and the errata page at most 15 s, chapter 9 (the
U-Net on digits) at most 20 s, and the median over the book's pages at most 10 s; graded
solution notebooks at most 15 s.

``--baseline REF`` also runs the notebooks of a git revision (for example ``HEAD~5`` or a
tag), from a temporary worktree with that revision's package first on the kernel's path,
alternating with the current checkout run by run, so "before" and "after" are measured on
the same machine under the same load. It also times a small-MLP training step with one
thread and with every core, side by side, the measurement behind the course's default of
one torch thread.

A run that fails (a failing cell, a dead kernel, a timeout) is reported in the table as
FAILED with its error and counts as over budget; the other runs and notebooks go on.

Usage:  python scripts/benchmark.py [--repeats 3] [--baseline REF] [NOTEBOOK ...]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

from gm_course.report import parse_headlines
from gm_course.runtime import time_mlp_step

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_BUDGET = 15.0
SPECIAL_BUDGETS = {"book/09_unet_on_digits.ipynb": 20.0}
MEDIAN_BUDGET = 10.0  # the median over the book's pages
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in a traceback


def budget(name: str) -> float:
    return SPECIAL_BUDGETS.get(name, CHAPTER_BUDGET)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_notebook(path: Path, timeout: int, src: Path | None = None) -> tuple[float, float, float, str]:
    """Execute ``path`` in a fresh kernel from its own folder.

    Returns (wall seconds from starting the kernel to the end of the last cell, kernel CPU
    seconds, seconds the kernel then took to shut down, printed text). The shutdown (about a
    second of the kernel's own clean-up, whatever the notebook) is what no reader waits for,
    so it is reported apart. ``src``: a package source folder put first on the kernel's
    ``PYTHONPATH`` (the baseline's package).
    """
    nb = nbformat.read(path, as_version=4)
    last_cell_done = []

    def cell_done(**_):
        last_cell_done[:] = [time.perf_counter()]

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", on_cell_executed=cell_done,
                            resources={"metadata": {"path": str(path.parent)}})
    saved = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), saved]))
    try:
        cpu0, start = _children_cpu(), time.perf_counter()
        client.execute()  # starts the kernel, runs every cell, shuts the kernel down (reaped)
        end, cpu = time.perf_counter(), _children_cpu() - cpu0
    finally:
        if src is not None:
            os.environ.pop("PYTHONPATH", None) if saved is None else os.environ.update(PYTHONPATH=saved)
    done = last_cell_done[0] if last_cell_done else end
    text = "\n".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
        for out in cell.get("outputs", []) if out.get("output_type") == "stream"
    )
    return done - start, cpu, end - done, text


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    shutdown: list[float] = field(default_factory=list)
    text: str = ""
    failures: int = 0  # failed runs add no time
    failure: str = ""  # why the last one failed

    def add(self, result: tuple[float, float, float, str]) -> None:
        self.wall.append(result[0])
        self.cpu.append(result[1])
        self.shutdown.append(result[2])
        self.text = result[3]

    def run(self, path: Path, timeout: int, src: Path | None = None) -> None:
        """One run of ``path``; a failing cell or a timeout is recorded, not raised."""
        try:
            self.add(run_notebook(path, timeout, src))
        except (CellExecutionError, DeadKernelError, TimeoutError) as err:
            lines = [line for line in ANSI.sub("", str(err)).splitlines() if line.strip()]
            self.failures += 1
            self.failure = f"{type(err).__name__}: {lines[-1] if lines else ''}"[:200]

    def cell(self) -> str:
        failed = f"FAILED {self.failures}x ({self.failure})" if self.failures else ""
        if not self.wall:
            return failed or "-"
        median = statistics.median(self.wall)
        return (f"{median:5.1f} ({min(self.wall):.1f}-{max(self.wall):.1f}), "
                f"cpu {statistics.median(self.cpu):.1f}, shutdown {statistics.median(self.shutdown):.1f}"
                + (f"; {failed}" if failed else ""))


def baseline_worktree(ref: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), ref],
                   check=True, capture_output=True, text=True)
    return where


def headlines(text: str) -> str:
    heads = parse_headlines(text)
    score = re.search(r"^Score: (.*)$", text, re.M)  # the grader's last line in solutions/
    if score:
        heads["score"] = score[1]
    return "; ".join(f"{k} = {v}" for k, v in heads.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", metavar="REF", help="git revision to measure beside this checkout")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    # every executable page of the book (chapters and the errata appendix), then the solutions
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "book").glob("*.ipynb")) + sorted(
        (ROOT / "solutions").glob("*.ipynb"))
    names = [str(p.relative_to(ROOT)) for p in paths]

    print(f"cores: {os.cpu_count()}   repeats: {args.repeats}   load average: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    one = time_mlp_step(1)
    every = time_mlp_step(os.cpu_count() or 1)
    print(f"2-64-64-1 MLP training step: {1e3 * one:.2f} ms with 1 thread, "
          f"{1e3 * every:.2f} ms with {os.cpu_count()} threads\n")

    with tempfile.TemporaryDirectory() as tmp:
        old_root = baseline_worktree(args.baseline, Path(tmp) / "baseline") if args.baseline else None
        try:
            now = {name: Timings() for name in names}
            before = {name: Timings() for name in names}
            for path, name in zip(paths, names):
                old = old_root / name if old_root is not None else None
                for _ in range(args.repeats):  # alternate, so both see the same load
                    if old is not None and old.exists():
                        before[name].run(old, 600, src=old_root / "src")
                    now[name].run(path, 600)
                print(f"{name}: {now[name].cell()}", file=sys.stderr, flush=True)
        finally:
            if old_root is not None:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_root)],
                               capture_output=True)

    width = max(map(len, names))
    title = "wall s median (min-max), cpu s median, shutdown s median"
    print(f"| {'notebook':<{width}} | budget s | {('before: ' if args.baseline else '') + title} |"
          + (f" now: {title} |" if args.baseline else "") + " within | headline numbers |")
    print(f"|{'-' * (width + 2)}|---:|---|" + ("---|" if args.baseline else "") + "---|---|")
    over = []
    for name in names:
        ok = bool(now[name].wall) and not now[name].failures and (
            statistics.median(now[name].wall) <= budget(name))
        if not ok:
            over.append(name)
        columns = [before[name].cell(), now[name].cell()] if args.baseline else [now[name].cell()]
        print(f"| {name:<{width}} | {budget(name):4.0f} | " + " | ".join(columns)
              + f" | {'yes' if ok else 'NO'} | {headlines(now[name].text)} |")
    book = [statistics.median(now[n].wall) for n in names if n.startswith("book/") and now[n].wall]
    if book:
        median = statistics.median(book)
        print(f"\nmedian over the book's {len(book)} pages: {median:.1f} s (budget {MEDIAN_BUDGET:.0f} s)")
        if median > MEDIAN_BUDGET:
            over.append("the median over the book's pages")
    if args.baseline:
        old_book = [statistics.median(before[n].wall) for n in names if n.startswith("book/") and before[n].wall]
        if old_book:
            print(f"median over the baseline's {len(old_book)} pages: {statistics.median(old_book):.1f} s")
    if over:
        print(f"\nover budget or failed: {', '.join(over)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
