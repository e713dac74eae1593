"""A Gradescope autograder for one chapter: ``gm-course gradescope NN_topic --out autograder.zip``.

Gradescope builds one Docker image per assignment from the zip (Ubuntu, the zip unpacked in
``/autograder/source``, ``setup.sh`` run once as root), then grades every submission in a
fresh container of that image: it puts the learner's files in ``/autograder/submission``,
runs ``/autograder/run_autograder`` and reads ``/autograder/results/results.json``.

The zip holds:

- ``setup.sh``: installs Python's ``venv`` and bubblewrap with apt, creates a virtual
  environment, installs PyTorch's CPU build from PyTorch's own index, IPython, and this
  package at the version that built the zip, from the wheel inside the zip (no git, no
  access to the course's repository needed), or the pip requirement given with
  ``--package-spec``; then checks that the installed version is the expected one;
- ``run_autograder``: runs :func:`main`, which grades the submitted notebook with the grader
  of ``gm-course grade`` (:func:`gm_course.batch.grade`: the same limits, the same
  isolation, the same hidden checks) and writes ``results.json``;
- ``config.json`` (chapter, limits, version, whether to use the sandbox) and, with
  ``--checks``, the private checks (``hidden_checks.py``).

The learner's code runs in the same bubblewrap sandbox as under ``gm-course grade``
(:mod:`gm_course.bubblewrap`), so it cannot read ``/autograder/source`` (the hidden checks)
nor write ``/autograder/results``. Where bubblewrap cannot create its namespaces inside the
container (Docker's default seccomp profile refuses them), the submission is **not run**:
``results.json`` gives 0 points and says why, and ``run_autograder``'s output (shown to
instructors only) tells how to build a zip that grades without the sandbox
(``gm-course gradescope ... --unsafe-no-sandbox``); then the learner's code runs as the
container's user, with the rights that implies (see :func:`grade_submission`).

``results.json`` follows Gradescope's published format: top-level ``score``,
``execution_time``, ``output``, ``visibility`` and ``stdout_visibility``, and ``tests``, one
entry per question with ``name``, ``score``, ``max_score``, ``status``, ``output`` and
``visibility`` ``"visible"`` (the public checks' result). A question with hidden checks
gets a second entry, worth no points, whose ``output`` is the hidden checks' reason, with
``visibility`` ``"after_due_date"``: before the due date a learner sees that the hidden
checks decided the points, not which input case failed.

Environment variables (for tests and images prepared in advance):
``GMC_AUTOGRADER_ROOT`` (default ``/autograder``), ``GMC_VENV`` (default
``$GMC_AUTOGRADER_ROOT/gmc-venv``), ``GMC_SKIP_SYSTEM=1`` (no apt, no torch or IPython
install: they are already there), ``GMC_PIP_ARGS`` (extra options of the pip command that
installs the course package, e.g. ``--no-deps --no-index``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

RESULTS_VISIBILITY = ("hidden", "after_due_date", "after_published", "visible")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
HIDDEN_PREFIX = "hidden check: "
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same package gives the same zip

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image.
# Written by `gm-course gradescope`; see gm_course.gradescope for the environment variables.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${GMC_AUTOGRADER_ROOT:-/autograder}"
VENV="${GMC_VENV:-$ROOT/gmc-venv}"
PACKAGE=@PACKAGE@
EXPECTED_VERSION=@VERSION@
if [ -z "${GMC_SKIP_SYSTEM:-}" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap
fi
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check)
if [ -z "${GMC_SKIP_SYSTEM:-}" ]; then
  "${PIP[@]}" --upgrade pip
  "${PIP[@]}" @TORCH@ --index-url @TORCH_INDEX@
  "${PIP[@]}" ipython
fi
if [ -f "$SOURCE/$PACKAGE" ]; then
  PACKAGE="$SOURCE/$PACKAGE"
fi
# GMC_PIP_ARGS holds several options, hence unquoted
# shellcheck disable=SC2086
"${PIP[@]}" ${GMC_PIP_ARGS:-} "$PACKAGE"
"$VENV/bin/python" - "$EXPECTED_VERSION" <<'PY'
import sys
import gm_course
want = sys.argv[1]
if want and gm_course.__version__ != want:
    sys.exit(f"gm-course {gm_course.__version__} is installed, {want} was expected")
print(f"gm-course {gm_course.__version__} is installed ({gm_course.__file__})")
PY
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this once per submission, in a fresh container of the image setup.sh built.
ROOT="${GMC_AUTOGRADER_ROOT:-/autograder}"
VENV="${GMC_VENV:-$ROOT/gmc-venv}"
exec "$VENV/bin/python" -I -m gm_course.gradescope --root "$ROOT"
"""


def _shell_word(text: str) -> str:
    return "'" + str(text).replace("'", "'\\''") + "'"


# ----------------------------------------------------------------------------- building the zip

def build_wheel() -> tuple[str, bytes]:
    """``(file name, bytes)`` of a wheel of the installed package (pure Python, built from the
    imported package's own files and its installed metadata; no build tool needed)."""
    import importlib.metadata as md

    import gm_course

    version = gm_course.__version__
    try:
        meta = md.metadata("gm-course")
        requires = [r for r in (md.requires("gm-course") or []) if "extra ==" not in r]
        python = meta.get("Requires-Python") or ">=3.10"
        summary = meta.get("Summary") or ""
    except md.PackageNotFoundError:
        requires, python, summary = [], ">=3.10", ""
    package = Path(gm_course.__file__).resolve().parent
    files = sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and not p.name.startswith(".") and p.suffix not in (".pyc", ".pyo"))
    info = f"gm_course-{version}.dist-info"
    entries = [(f"gm_course/{p.relative_to(package).as_posix()}", p.read_bytes()) for p in files]
    metadata = "\n".join(["Metadata-Version: 2.1", "Name: gm-course", f"Version: {version}",
                          f"Summary: {summary}", f"Requires-Python: {python}",
                          *[f"Requires-Dist: {r}" for r in requires]]) + "\n"
    entries += [(f"{info}/METADATA", metadata.encode()),
                (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: gm-course\nRoot-Is-Purelib: true\n"
                                  b"Tag: py3-none-any\n"),
                (f"{info}/entry_points.txt", b"[console_scripts]\ngm-course = gm_course.cli:main\n")]

    def record_line(name: str, data: bytes) -> str:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        return f"{name},sha256={digest},{len(data)}"

    record = "\n".join([record_line(n, d) for n, d in entries] + [f"{info}/RECORD,,"]) + "\n"
    entries.append((f"{info}/RECORD", record.encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as whl:
        for name, data in entries:
            whl.writestr(zipfile.ZipInfo(name, _EPOCH), data)
    return f"gm_course-{version}-py3-none-any.whl", buffer.getvalue()


def build_autograder(chapter: str, out: Path, checks: Path | None = None, package_spec: str | None = None,
                     torch_spec: str = "torch", cell_timeout: float = 60.0, timeout: float = 300.0,
                     memory_mb: int = 2048, sandbox: bool = True) -> Path:
    """Write the autograder zip for ``chapter`` to ``out`` and return its path.

    ``sandbox=False`` (``--unsafe-no-sandbox``) grades without bubblewrap, for a container
    where it cannot start; the learner's code can then read the hidden checks."""
    import gm_course
    from .questions import CHAPTERS

    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; chapters with graded questions: {', '.join(CHAPTERS)}")
    if cell_timeout <= 0 or timeout <= 0 or memory_mb < 64:
        raise ValueError("the timeouts must be > 0 and --memory-mb >= 64")
    if checks is not None:
        import runpy

        extra = runpy.run_path(str(checks)).get("HIDDEN")
        if not isinstance(extra, dict):
            raise ValueError(f"{checks}: defines no HIDDEN = {{chapter: {{question: [check, ...]}}}}")
        unknown = set(extra.get(chapter, {})) - set(CHAPTERS[chapter])
        if unknown:
            raise ValueError(f"{checks}: no question {', '.join(sorted(unknown))} in {chapter}")
    files: dict[str, tuple[bytes, int]] = {}
    if package_spec:
        package, version = package_spec, ""
    else:
        package, wheel = build_wheel()
        version = gm_course.__version__
        files[package] = (wheel, 0o644)
    setup = (SETUP_SH.replace("@PACKAGE@", _shell_word(package)).replace("@VERSION@", _shell_word(version))
             .replace("@TORCH@", _shell_word(torch_spec)).replace("@TORCH_INDEX@", TORCH_CPU_INDEX))
    files["setup.sh"] = (setup.encode(), 0o755)
    files["run_autograder"] = (RUN_AUTOGRADER.encode(), 0o755)
    config = {"chapter": chapter, "version": version, "package": package, "cell_timeout": cell_timeout,
              "timeout": timeout, "memory_mb": memory_mb, "sandbox": bool(sandbox),
              "checks": "hidden_checks.py" if checks is not None else None}
    files["config.json"] = (json.dumps(config, indent=1).encode(), 0o644)
    if checks is not None:
        files["hidden_checks.py"] = (Path(checks).read_bytes(), 0o600)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = (0o100000 | mode) << 16  # a regular file with its permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    os.replace(tmp, out)
    return out


# ----------------------------------------------------------------------------- results.json

def choose_submission(folder: Path, chapter: str) -> tuple[Path | None, str]:
    """The notebook to grade in ``folder`` (searched recursively), or ``None`` and why not.

    One ``.ipynb``: that one. Several: the only one whose name holds the chapter id."""
    found = sorted(p for p in Path(folder).rglob("*.ipynb")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if len(found) == 1:
        return found[0], ""
    named = [p for p in found if chapter in p.name]
    if len(named) == 1:
        return named[0], ""
    if not found:
        return None, "No .ipynb file was submitted: upload your exercise notebook (File > Download .ipynb)."
    names = ", ".join(p.relative_to(folder).as_posix() for p in found)
    return None, (f"Several notebooks were submitted ({names}) and not exactly one is named after "
                  f"{chapter}: upload only your exercise notebook.")


def results_json(row: dict | None, hidden_questions=(), seconds: float = 0.0, note: str = "") -> dict:
    """Gradescope's ``results.json`` for one graded row (``None``: nothing could be graded).

    Args:
        row: the grader's row (``status``, ``message``, ``points``, ``max_points``, ``events``,
            ``questions`` with ``name``, ``points``, ``max_points``, ``status``, ``reason``).
        hidden_questions: names of the questions that have hidden checks.
        seconds: the execution time to report.
        note: text for the top-level ``output`` when ``row`` is ``None``.
    """
    base = {"execution_time": int(round(seconds)), "visibility": "visible", "stdout_visibility": "hidden"}
    if row is None:
        return {**base, "score": 0.0, "output": note, "tests": []}
    hidden_questions = set(hidden_questions)
    tests = []
    for q in row.get("questions", []):
        reason, status = str(q.get("reason", "")), q.get("status", "FAIL")
        hidden_failed = reason.startswith(HIDDEN_PREFIX)
        if hidden_failed:
            public = ("FAIL: the checks you can run in the notebook pass, but the grader's hidden checks "
                      "(the same reference on other inputs) did not; their reason is shown after the due date.")
        else:
            public = f"{status}: {reason}"
        where = " (checked in the notebook's own process)" if q.get("how") == "in-process" else ""
        tests.append({"name": q["name"], "score": float(q.get("points", 0)),
                      "max_score": float(q.get("max_points", 0)),
                      "status": "passed" if status == "PASS" else "failed",
                      "output": public + where, "visibility": "visible"})
        if q["name"] in hidden_questions:
            if hidden_failed:
                hidden = reason[len(HIDDEN_PREFIX):]
            elif status == "PASS":
                hidden = "all hidden input cases correct"
            else:
                hidden = "not run: the public checks did not pass"
            tests.append({"name": f"{q['name']}: hidden checks", "score": 0.0, "max_score": 0.0,
                          "status": "passed" if status == "PASS" else "failed",
                          "output": hidden, "visibility": "after_due_date"})
    lines = [f"Score: {row.get('points', 0)}/{row.get('max_points', 0)} points ({row.get('chapter') or '-'})",
             f"Status: {row.get('status', '')}" + (f": {row['message']}" if row.get("message") else "")]
    if row.get("events"):
        lines += ["", "While running the notebook:"] + [f"- {e['text']}" for e in row["events"]]
    lines += ["", "Every question was checked again by the grader, on the inputs shown in the notebook "
                  "and on others; output the notebook printed itself was not used."]
    return {**base, "score": float(row.get("points", 0)), "output": "\n".join(lines), "tests": tests,
            "extra_data": {"status": row.get("status", ""), "sha256": row.get("sha256", "")}}


def _write_results(results_dir: Path, results: dict) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "results.json"
    tmp = results_dir / ".results.json.tmp"
    tmp.write_text(json.dumps(results, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


SANDBOX_FAILED = ("Your notebook was not graded: the autograder could not start its sandbox "
                  "in this container ({reason}). Tell your instructor; your submission is kept "
                  "and can be regraded.")
SANDBOX_HELP = ("gm-course gradescope: bubblewrap cannot start here: {reason}. Either run the "
                "autograder where unprivileged namespaces are allowed, or rebuild the zip with "
                "`gm-course gradescope {chapter} --unsafe-no-sandbox` (the learner's code then "
                "runs with the container's rights and can read the hidden checks) and regrade.")


def settings_for(config: dict, source: Path, work: Path):
    """The :class:`gm_course.batch.Settings` of one Gradescope submission (``config.json``)."""
    from . import batch

    checks = source / config["checks"] if config.get("checks") else None
    return batch.Settings(out=work / "results.csv", chapter=config["chapter"], jobs=1,
                          cell_timeout=float(config["cell_timeout"]), timeout=float(config["timeout"]),
                          memory_mb=int(config["memory_mb"]), fresh=True, checks=checks,
                          sandbox=bool(config.get("sandbox", True)))


def grade_submission(root: Path) -> dict:
    """Grade ``root/submission`` with ``root/source/config.json``; return results.json's data.

    When bubblewrap cannot start (and the zip was not built with ``--unsafe-no-sandbox``)
    nothing is run: 0 points, with the reason, for the learner and the instructor."""
    from . import batch
    from .bubblewrap import SandboxUnavailable

    started = time.monotonic()
    source = root / "source"
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    chapter = config["chapter"]
    notebook, why = choose_submission(root / "submission", chapter)
    if notebook is None:
        return results_json(None, seconds=time.monotonic() - started, note=why)
    work = Path(tempfile.mkdtemp(prefix="gmc-gradescope-"))
    try:
        settings = settings_for(config, source, work)
        try:
            rows = batch.grade([notebook], settings, log=lambda line: print(line, flush=True))
        except SandboxUnavailable as err:
            reason = str(err).rstrip(".")
            print(SANDBOX_HELP.format(reason=reason, chapter=chapter), flush=True)
            return results_json(None, seconds=time.monotonic() - started,
                                note=SANDBOX_FAILED.format(reason=reason))
        hidden = [name for name, (_, extra) in batch.chapter_questions(settings)[chapter].items() if extra]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results_json(rows[0] if rows else None, hidden, time.monotonic() - started,
                        note="The notebook could not be graded.")


def main(argv: list[str] | None = None) -> int:
    """``run_autograder``'s entry point; always writes ``results.json``, even on a grader error."""
    parser = argparse.ArgumentParser(prog="python -m gm_course.gradescope",
                                     description="Grade /autograder/submission into results.json.")
    parser.add_argument("--root", default=os.environ.get("GMC_AUTOGRADER_ROOT", "/autograder"))
    root = Path(parser.parse_args(argv).root)
    started = time.monotonic()
    try:
        results = grade_submission(root)
        code = 0
    except Exception as err:  # noqa: BLE001 - Gradescope must get a results.json whatever happens
        traceback.print_exc()
        results = results_json(None, seconds=time.monotonic() - started,
                               note=f"The autograder itself failed ({type(err).__name__}); "
                                    "tell your instructor. Your submission was not graded.")
        code = 1
    path = _write_results(root / "results", results)
    print(f"wrote {path}: score {results['score']:g}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
