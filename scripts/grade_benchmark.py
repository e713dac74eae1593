"""Time the batch grader on a class of generated submissions of one chapter.

    python scripts/grade_benchmark.py [--n 100] [--jobs 2] [--chapter 01_density_by_counting]

Builds ``--n`` varied notebooks from the chapter's solutions and exercises (complete answers,
untouched exercises, one answer left as the stub, wrong answers written out by hand, a cell
that raises, a syntax error, and a few that loop forever or kill their process), grades them
with ``gm-course grade --jobs J`` in a temporary folder, and prints the wall-clock time and
the statuses. The grading command is timed as a whole, start-up included.
"""

from __future__ import annotations

import argparse
import copy
import csv
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def _variant(k: int, solution, exercise):
    """The k-th submission: mostly ordinary work, with a few hostile ones mixed in."""
    nb = copy.deepcopy(solution if k % 5 else exercise)
    code = [c for c in nb.cells if c.cell_type == "code" and "def " in c.source]
    kind = k % 20
    if kind in (1, 6) and code:  # one answer not attempted
        cell = code[k % len(code)]
        cell.source = cell.source.split("# BEGIN SOLUTION")[0] + 'raise NotImplementedError("Write your answer here.")'
    elif kind in (2, 7, 12) and code:  # a wrong answer: the result off by a factor
        cell = code[k % len(code)]
        lines = cell.source.rstrip().split("\n")
        last = max(i for i, line in enumerate(lines) if line.strip().startswith("return "))
        lines[last] = lines[last].replace("return ", "return 1.01 * ", 1)
        cell.source = "\n".join(lines)
    elif kind == 3:  # a cell that raises
        nb.cells.append(nbformat.v4.new_code_cell("undefined_name + 1"))
    elif kind == 8 and code:  # a syntax error in an answer
        code[0].source = code[0].source.replace("):", ")", 1)
    elif kind == 13:  # an infinite loop in a scratch cell
        nb.cells.append(nbformat.v4.new_code_cell("while True:\n    pass"))
    elif kind == 18:  # a cell that kills the kernel
        nb.cells.append(nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--chapter", default="01_density_by_counting")
    parser.add_argument("--cell-timeout", type=float, default=10.0)
    parser.add_argument("--grade-args", default="", help="more options of gm-course grade, e.g. "
                        "'--sandbox-per-submission' or '--unsafe-no-sandbox'")
    args = parser.parse_args(argv)
    solution = nbformat.read(ROOT / "solutions" / f"{args.chapter}.ipynb", as_version=4)
    exercise = nbformat.read(ROOT / "exercises" / f"{args.chapter}.ipynb", as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "submissions"
        folder.mkdir()
        for k in range(args.n):
            nbformat.write(_variant(k, solution, exercise), folder / f"student_{k:03d}.ipynb")
        out = Path(tmp) / "results.csv"
        cmd = [sys.executable, "-m", "gm_course.cli", "grade", str(folder), "--out", str(out),
               "--chapter", args.chapter, "--jobs", str(args.jobs), "--cell-timeout", str(args.cell_timeout),
               *args.grade_args.split()]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
    statuses = Counter(r["status"] for r in rows)
    per = sorted(float(r["seconds"]) for r in rows)
    print(f"{len(rows)} submissions of {args.chapter}, --jobs {args.jobs}, --cell-timeout {args.cell_timeout:g}"
          f"{' ' + args.grade_args if args.grade_args else ''}: "
          f"{seconds:.1f} s wall clock ({seconds / max(1, len(rows)):.2f} s per submission)")
    print("statuses: " + ", ".join(f"{s} {n}" for s, n in statuses.most_common()))
    print(f"seconds per submission: median {per[len(per) // 2]:.2f}, max {per[-1]:.2f}")
    print(f"mean score: {sum(int(r['points']) for r in rows) / len(rows):.2f} / {rows[0]['max_points']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
