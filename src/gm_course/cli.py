"""The ``gm-course`` command for course maintainers.

    gm-course exercises     refresh solutions/ (setup cell, expected score) and regenerate exercises/
    gm-course setup-cells   give every book/*.ipynb the current setup cell
    gm-course check         exit 1, listing the problems, if anything above is out of sync
    gm-course grade SUBMISSIONS... --out results.csv [--shard K/N]
                            grade learners' exercise notebooks (see gm_course.batch)
    gm-course merge-grades OUT.csv SHARD_FILES_OR_FOLDERS...
                            join the results of `grade --shard K/N` runs (gm_course.shards)
    gm-course gradescope NN_topic --out autograder.zip
                            a Gradescope autograder for one chapter (gm_course.gradescope)

The first three work on the repository in the current directory (``--root`` to choose
another); the others work on the files and folders they are given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import notebooks


def _root(args) -> Path:
    root = Path(args.root)
    if not (root / "solutions").is_dir():
        raise SystemExit(f"gm-course: {root.resolve()} has no solutions/ folder; run it from the "
                         "repository root or pass --root")
    return root


def _report_updates(changed, root, what: str, unchanged: str) -> int:
    """Print each rewritten notebook and a one-line total; the exit status is 0."""
    for path in changed:
        print(f"updated {path.relative_to(root)}")
    print(f"{len(changed)} {what} updated" if changed else unchanged)
    return 0


def _exercises(args) -> int:
    root = _root(args)
    try:
        changed = notebooks.generate_exercises(root / "solutions", root / "exercises")
    except ValueError as err:
        print(f"gm-course exercises: {err}", file=sys.stderr)
        return 1
    return _report_updates(changed, root, "file(s)", "exercises/ and solutions/ were already up to date")


def _setup_cells(args) -> int:
    root = _root(args)
    changed = notebooks.refresh_book_setup_cells(root / "book")
    return _report_updates(changed, root, "book notebook(s)", "book setup cells were already up to date")


def _check(args) -> int:
    root = _root(args)
    problems = notebooks.check_in_sync(root / "solutions", root / "exercises", root / "book")
    for problem in problems:
        print(problem)
    if problems:
        print(f"gm-course check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("gm-course check: solutions, exercises and setup cells are in sync")
    return 0


def _grade(args) -> int:
    from .batch import Settings, grade

    if args.jobs < 1 or args.cell_timeout <= 0 or args.timeout <= 0 or args.memory_mb < 64:
        print("gm-course grade: --jobs must be >= 1, the timeouts > 0 and --memory-mb >= 64", file=sys.stderr)
        return 2
    from .shards import parse_shard

    try:
        shard = parse_shard(args.shard) if args.shard is not None else None  # '' is an error
    except ValueError as err:
        print(f"gm-course grade: {err}", file=sys.stderr)
        return 2
    settings = Settings(out=Path(args.out), chapter=args.chapter, jobs=args.jobs,
                        cell_timeout=args.cell_timeout, timeout=args.timeout, memory_mb=args.memory_mb,
                        feedback_dir=Path(args.feedback) if args.feedback else None,
                        fresh=args.fresh, checks=Path(args.checks) if args.checks else None)
    settings.shard = shard
    settings.sandbox = not args.unsafe_no_sandbox
    settings.sandbox_per_submission = args.sandbox_per_submission
    if not settings.sandbox:
        print("gm-course grade: WARNING: --unsafe-no-sandbox: submissions run with YOUR rights; "
              "they can read and change your files and use the network", file=sys.stderr)
    from .bubblewrap import SandboxUnavailable

    try:
        grade(args.submissions, settings, log=lambda line: print(line, flush=True))
    except SandboxUnavailable as err:
        print(f"gm-course grade: REFUSED: {err}.\n"
              "Submissions are run inside a bubblewrap sandbox (Linux with user namespaces; "
              "Debian/Ubuntu: apt install bubblewrap).\nWithout it a submission could read other "
              "learners' notebooks and the hidden checks, or change the results. To grade anyway, "
              "with that risk, pass --unsafe-no-sandbox.", file=sys.stderr)
        return 3
    except (ValueError, OSError) as err:
        print(f"gm-course grade: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gm-course grade: interrupted; finished rows are in {settings.out} "
              "(run the same command again to grade the rest)", file=sys.stderr)
        return 130
    return 0


def _add_grade_parser(commands) -> None:
    import os

    grade = commands.add_parser(
        "grade", help="grade learners' exercise notebooks into a CSV and feedback files",
        description="Run every submitted exercise notebook in its own limited process, check its "
                    "functions with the public and hidden checks, and write one CSV row and one "
                    "feedback file per submission. A rerun skips files already graded.")
    grade.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                       help="notebook files, or folders searched recursively")
    grade.add_argument("--out", default="results.csv", help="the CSV to write (default: results.csv); "
                       "its .jsonl twin is the journal a rerun resumes from")
    grade.add_argument("--chapter", help="the chapter every submission must be (e.g. 01_density_by_counting)")
    grade.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="submissions graded at once (default: the number of cores)")
    grade.add_argument("--cell-timeout", type=float, default=60.0,
                       help="seconds one cell or one call of a learner's function may take (default 60)")
    grade.add_argument("--timeout", type=float, default=300.0,
                       help="seconds for a whole submission (default 300)")
    grade.add_argument("--memory-mb", type=int, default=2048,
                       help="memory a submission may add to the course's libraries, in MB (default 2048)")
    grade.add_argument("--feedback", help="folder for the feedback files (default: <out>_feedback/)")
    grade.add_argument("--checks", help="a Python file with extra hidden checks: "
                       "HIDDEN = {chapter: {question: [check, ...]}}")
    grade.add_argument("--fresh", action="store_true", help="forget earlier results and grade everything again")
    grade.add_argument("--shard", metavar="K/N", help="grade only shard K of N (1-based) of the submissions, "
                       "split by a stable hash of their path below the folder named; join the shards' "
                       "results with `gm-course merge-grades`")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="grade without the bubblewrap sandbox (where it cannot run: macOS, a "
                       "container without user namespaces): submissions run with your rights")
    grade.add_argument("--sandbox-per-submission", action="store_true",
                       help="a new sandbox for every submission instead of one per worker, reset "
                       "between submissions (about a second of CPU more each)")
    grade.set_defaults(run=_grade)


def _merge_grades(args) -> int:
    from .shards import MergeError, merge

    try:
        merge(Path(args.out), args.shards, log=lambda line: print(line, flush=True))
    except (MergeError, OSError) as err:
        print(f"gm-course merge-grades: {err}", file=sys.stderr)
        return 2
    return 0


def _gradescope(args) -> int:
    from .gradescope import build_autograder

    try:
        path = build_autograder(args.chapter, Path(args.out), checks=Path(args.checks) if args.checks else None,
                                package_spec=args.package_spec, torch_spec=args.torch_spec,
                                cell_timeout=args.cell_timeout, timeout=args.timeout,
                                memory_mb=args.memory_mb, sandbox=not args.unsafe_no_sandbox)
    except (ValueError, OSError) as err:
        print(f"gm-course gradescope: {err}", file=sys.stderr)
        return 2
    if args.unsafe_no_sandbox:
        print("gm-course gradescope: WARNING: --unsafe-no-sandbox: submissions will run without the "
              "sandbox, with the container's rights", file=sys.stderr)
    print(f"wrote {path}: upload it as the assignment's autograder (Configure Autograder > Zip file upload)")
    return 0


def _add_scale_parsers(commands) -> None:
    merge = commands.add_parser(
        "merge-grades", help="join the results of `gm-course grade --shard K/N` runs into one CSV",
        description="Check that the shard results form one whole class (every shard 1..N once, each "
                    "finished, no submission twice), then write the merged CSV, its journal, the "
                    "feedback files and the class report (summary.html, grades_canvas.csv).")
    merge.add_argument("out", metavar="OUT.csv", help="the merged CSV to write")
    merge.add_argument("shards", nargs="+", metavar="SHARD",
                       help="a shard's CSV (or its .shard.json), or a folder holding the shards' files")
    merge.set_defaults(run=_merge_grades)
    gs = commands.add_parser(
        "gradescope", help="build a Gradescope autograder zip for one chapter",
        description="Write a zip for Gradescope's autograder (setup.sh, run_autograder, this package as a "
                    "wheel, optional private checks) that grades a submitted notebook with the same "
                    "grader as `gm-course grade` and writes results.json.")
    gs.add_argument("chapter", help="the chapter, e.g. 01_density_by_counting")
    gs.add_argument("--out", default="autograder.zip", help="the zip to write (default: autograder.zip)")
    gs.add_argument("--checks", help="a Python file of private hidden checks to ship (as for `grade --checks`)")
    gs.add_argument("--package-spec", help="install this pip requirement instead of the bundled wheel "
                    "(e.g. 'gm-course==0.1.0')")
    gs.add_argument("--torch-spec", default="torch", help="the torch requirement installed from PyTorch's "
                    "CPU index (default: torch)")
    gs.add_argument("--cell-timeout", type=float, default=60.0, help="seconds per cell or call (default 60)")
    gs.add_argument("--timeout", type=float, default=300.0, help="seconds per submission (default 300)")
    gs.add_argument("--memory-mb", type=int, default=2048, help="memory cap beyond the libraries (default 2048)")
    gs.add_argument("--unsafe-no-sandbox", action="store_true",
                    help="grade without the bubblewrap sandbox, for a container where it cannot start "
                    "(the learner's code can then read the hidden checks and the autograder's files)")
    gs.set_defaults(run=_gradescope)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gm-course", description="Keep the course's solutions, exercises and setup cells in sync; "
                                      "grade learners' exercise notebooks.")
    parser.add_argument("--root", default=".", help="repository root (default: the current directory)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("exercises", help="refresh solutions/ and regenerate exercises/ from them").set_defaults(run=_exercises)
    commands.add_parser("setup-cells", help="give every book/*.ipynb the current setup cell").set_defaults(run=_setup_cells)
    commands.add_parser("check", help="exit 1 if exercises, solutions or setup cells are out of sync").set_defaults(run=_check)
    _add_grade_parser(commands)
    _add_scale_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
