"""The ``gm-course`` command for course maintainers.

    gm-course exercises     refresh solutions/ (setup cell, expected score) and regenerate exercises/
    gm-course setup-cells   give every book/*.ipynb the current setup cell
    gm-course check         exit 1, listing the problems, if anything above is out of sync

All commands work on the repository in the current directory (``--root`` to choose another).
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


def _exercises(args) -> int:
    root = _root(args)
    try:
        changed = notebooks.generate_exercises(root / "solutions", root / "exercises")
    except ValueError as err:
        print(f"gm-course exercises: {err}", file=sys.stderr)
        return 1
    for path in changed:
        print(f"updated {path.relative_to(root)}")
    print(f"{len(changed)} file(s) updated" if changed else "exercises/ and solutions/ were already up to date")
    return 0


def _setup_cells(args) -> int:
    root = _root(args)
    changed = notebooks.refresh_book_setup_cells(root / "book")
    for path in changed:
        print(f"updated {path.relative_to(root)}")
    print(f"{len(changed)} book notebook(s) updated" if changed else "book setup cells were already up to date")
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gm-course", description="Keep the course's solutions, exercises and setup cells in sync.")
    parser.add_argument("--root", default=".", help="repository root (default: the current directory)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("exercises", help="refresh solutions/ and regenerate exercises/ from them").set_defaults(run=_exercises)
    commands.add_parser("setup-cells", help="give every book/*.ipynb the current setup cell").set_defaults(run=_setup_cells)
    commands.add_parser("check", help="exit 1 if exercises, solutions or setup cells are out of sync").set_defaults(run=_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
