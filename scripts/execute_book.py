"""Execute the book's notebooks in parallel into the build's execution cache.

The book is built with ``execute_notebooks: cache``: a page whose code is already in the
jupyter-cache store (``_build/.jupyter_cache``) is rendered from it, any other page is
executed by the build itself, one after another. Running this first fills the store with
jupyter-cache's own parallel executor (one process per core), so the build that follows
executes nothing that is up to date and only renders. Each notebook is still executed
exactly once, with the book's timeout and ``allow_errors: false``; a notebook that fails is
left out of the store, so the build executes it again and reports its traceback as usual.

Usage:  python scripts/execute_book.py [--cache _build/.jupyter_cache]
Prints one line per notebook executed, with its seconds; exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml
from jupyter_cache import get_cache
from jupyter_cache.executors import load_executor

ROOT = Path(__file__).resolve().parents[1]


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache")
    args = parser.parse_args(argv)
    execute = yaml.safe_load((ROOT / "_config.yml").read_text()).get("execute", {})
    if execute.get("execute_notebooks") != "cache" or execute.get("run_in_temp"):
        print("the book is not built with `execute_notebooks: cache` in place: nothing to do")
        return 0

    cache = get_cache(str(args.cache))
    records = [cache.add_nb_to_project(str(path)) for path in toc_notebooks()]
    executor = load_executor("local-parallel", cache=cache)
    started = time.perf_counter()
    result = executor.run_and_cache(filter_pks=[r.pk for r in records],
                                    timeout=execute.get("timeout", 30),
                                    allow_errors=execute.get("allow_errors", False))
    wall = time.perf_counter() - started
    for uri in result.succeeded:
        record = cache.get_cached_project_nb(uri)
        seconds = record.data.get("execution_seconds", float("nan")) if record else float("nan")
        print(f"executed {Path(uri).relative_to(ROOT)} in {seconds:.1f} s")
    failed = result.excepted + result.errored
    for uri in failed:
        print(f"FAILED {Path(uri).relative_to(ROOT)} (the build will show its traceback)")
    print(f"{len(result.succeeded)} notebook(s) executed, {len(failed)} failed, "
          f"{len(records) - len(result.succeeded) - len(failed)} up to date; {wall:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
