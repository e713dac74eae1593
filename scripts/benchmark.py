"""Chapter benchmark: execute every book and solution notebook, report seconds and headlines.

Each notebook runs in a fresh kernel ``--repeats`` times; the table shows the median and the
spread of wall-clock seconds (this machine is shared and noisy) and the headline numbers the
notebook printed with ``gm_course.report.headline``. It also times a small-MLP training step
with one thread and with every core, side by side, the measurement behind the course's
default of one torch thread.

Usage:  python scripts/benchmark.py [--repeats 3] [--budget 60] [NOTEBOOK ...]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from gm_course.report import parse_headlines
from gm_course.runtime import time_mlp_step

ROOT = Path(__file__).resolve().parents[1]


def run_notebook(path: Path, timeout: int) -> tuple[float, str]:
    """Execute ``path`` in a fresh kernel from its own folder; return (seconds, printed text)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    text = "\n".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
        for out in cell.get("outputs", []) if out.get("output_type") == "stream"
    )
    return seconds, text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds allowed per notebook")
    args = parser.parse_args(argv)
    # every executable page of the book (chapters and the errata appendix), then the solutions
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "book").glob("*.ipynb")) + sorted(
        (ROOT / "solutions").glob("*.ipynb"))

    print(f"cores: {os.cpu_count()}   repeats: {args.repeats}   budget: {args.budget:.0f} s per notebook")
    one = time_mlp_step(1)
    every = time_mlp_step(os.cpu_count() or 1)
    print(f"2-64-64-1 MLP training step: {1e3 * one:.2f} ms with 1 thread, "
          f"{1e3 * every:.2f} ms with {os.cpu_count()} threads\n")

    rows, over_budget = [], []
    for path in paths:
        times, text = [], ""
        for _ in range(args.repeats):
            seconds, text = run_notebook(path, timeout=int(10 * args.budget))
            times.append(seconds)
        median = statistics.median(times)
        if median > args.budget:
            over_budget.append(path)
        heads = parse_headlines(text)
        score = re.search(r"^Score: (.*)$", text, re.M)  # the grader's last line in solutions/
        if score:
            heads["score"] = score[1]
        rows.append((str(path.relative_to(ROOT)), median, min(times), max(times),
                     "; ".join(f"{k} = {v}" for k, v in heads.items())))

    width = max(len(r[0]) for r in rows)
    print(f"| {'notebook':<{width}} | median s | min-max s | headline numbers |")
    print(f"|{'-' * (width + 2)}|---------:|----------:|------------------|")
    for name, median, lo, hi, heads in rows:
        print(f"| {name:<{width}} | {median:8.1f} | {lo:4.1f}-{hi:<4.1f} | {heads} |")
    if over_budget:
        print(f"\nover budget: {', '.join(map(str, over_budget))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
