"""Grading a class's exercise notebooks: ``gm-course grade SUBMISSIONS... --out results.csv``.

For every submitted file (folders are searched recursively) the grader writes one row of
``results.csv`` (per-question points, total, status) and one feedback file. It never reads
what the notebook printed: each submission is run again and checked from scratch.

- **Which chapter**: the notebook's ``grader = gmc.grading.Grader("NN_topic")`` line, else a
  chapter id in the file name; ``--chapter`` names the chapter every file must be (others get
  ``wrong_chapter``) and is used for a notebook whose grader line was deleted.
- **How**: the setup (install) cell and the grader's own lines are removed; the rest runs in
  a fresh process inside a bubblewrap sandbox (:mod:`gm_course.bubblewrap`: no network, no
  view of other submissions, the results or the checks) under a per-cell timeout, a total
  timeout and a memory cap, and the checks, public and hidden, run outside it in a second
  process that never executes learner code (:mod:`gm_course.sandbox`). Where bubblewrap
  cannot run, the grader refuses unless ``--unsafe-no-sandbox`` is given. A cell that
  raises does not stop the run (later cells still run); a cell that kills or hangs the
  process is skipped on a second try.
- **Statuses**: ``ok``; ``error`` (a cell raised), ``memory`` (a cell or function hit the
  memory cap), ``timeout``, ``crashed`` (the process died: ``os._exit``, a segfault),
  ``tampered`` (learner code rebound parts of ``gm_course``: harmless, but worth a look);
  ``invalid`` (not a readable notebook, or no chapter); ``wrong_chapter``. When several
  apply, the first of tampered, crashed, timeout, memory, error is shown and the feedback
  lists all. The points are what the functions that were defined earned, whatever the status.
- **Resumable**: each finished row is appended to ``results.jsonl`` (flushed to disk) and
  ``results.csv`` is rewritten from it atomically; a rerun skips files already graded with
  the same content (SHA-256) unless ``--fresh``.
- **Parallel**: ``--jobs`` submissions at a time (default: the number of cores). Each worker
  has one sandbox whose zygote imports torch once and forks a learner process per
  submission, resetting the sandbox in between (:mod:`gm_course.zygote`), so each starts in
  milliseconds; ``--sandbox-per-submission`` starts a new sandbox for every submission
  instead (about a second of CPU more each).

Instructor-only hidden checks can live outside the package: ``--checks my_checks.py`` with
``HIDDEN = {"01_density_by_counting": {"joint_histogram": [check, ...]}}``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import runpy
import select
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import shards

STATUSES = ("ok", "error", "memory", "timeout", "crashed", "tampered", "invalid", "wrong_chapter")
MAX_NOTEBOOK_BYTES = 20 << 20
_GRADER_CALL = re.compile(r"""Grader\(\s*["']([\w.-]+)["']""")
_DROPPED_LINE = re.compile(
    r"""^\s*(?:[%!]+\s*(?:pip|conda|mamba|uv)\b|!|grader\s*=\s*(?:gmc|gm_course)\.grading\.Grader\(|"""
    r"""grader\.(?:check|summary)\()""")


@dataclass
class Settings:
    """What ``gm-course grade`` was asked to do (see :func:`build_parser` for the meaning)."""

    out: Path = Path("results.csv")
    chapter: str | None = None
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    cell_timeout: float = 60.0
    timeout: float = 300.0
    memory_mb: int = 2048
    feedback_dir: Path | None = None
    fresh: bool = False
    checks: Path | None = None
    shard: tuple[int, int] | None = None  # (K, N): grade only shard K of N (gm_course.shards)
    sandbox: bool = True  # False: --unsafe-no-sandbox (learner code runs with your rights)
    sandbox_per_submission: bool = False

    @property
    def journal(self) -> Path:
        return self.out.with_suffix(".jsonl")

    @property
    def feedback(self) -> Path:
        return self.feedback_dir or self.out.with_name(self.out.stem + "_feedback")


# ----------------------------------------------------------------------------- reading submissions

def find_submissions(paths) -> tuple[list[Path], list[str]]:
    """Every file named (or under a folder named), hidden files and checkpoints skipped;
    warnings for missing paths and empty folders."""
    found, warnings = [], []
    for given in map(Path, paths):
        if given.is_file():
            found.append(given)
        elif given.is_dir():
            inside = sorted(p for p in given.rglob("*") if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(given).parts))
            if not inside:
                warnings.append(f"{given}: empty folder, no submissions")
            found += inside
        else:
            warnings.append(f"{given}: no such file or folder")
    unique = list(dict.fromkeys(found))
    return unique, warnings


def prepare_cells(nb) -> list[tuple[int, str]]:
    """``[(cell number, source)]`` to run: code cells minus the setup cell, with install and
    grader lines replaced by ``pass`` (same indentation, so blocks stay valid)."""
    cells = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        tags = cell.get("metadata", {}).get("tags", [])
        if "setup" in tags or 'find_spec("gm_course")' in source:
            continue
        lines = [line[: len(line) - len(line.lstrip())] + "pass" if _DROPPED_LINE.match(line) else line
                 for line in source.split("\n")]
        source = "\n".join(lines)
        if source.strip():
            cells.append((number, source))
    return cells


def chapter_of(nb, path: Path, known) -> str | None:
    """The chapter named by the notebook's Grader line, else by its file name, else None."""
    named = {m for cell in nb.cells if cell.get("cell_type") == "code"
             for m in _GRADER_CALL.findall(str(cell.get("source", "")))}
    if len(named) == 1:
        return named.pop()
    if len(named) > 1:
        return None
    in_name = [c for c in known if c in path.name]
    return in_name[0] if len(in_name) == 1 else None


def read_submission(path: Path, settings: Settings, known) -> dict:
    """A row stub: ``submission``, ``path``, ``sha256``, and either ``cells`` + ``chapter``
    to grade or a final ``status`` (``invalid``, ``wrong_chapter``) with its ``message``."""
    import nbformat

    row = {"submission": str(path), "path": str(path.resolve()), "sha256": "", "chapter": ""}
    try:
        data = path.read_bytes()[: MAX_NOTEBOOK_BYTES + 1]
    except OSError as err:
        return {**row, "status": "invalid", "message": f"cannot read the file: {err.strerror}"}
    row["sha256"] = hashlib.sha256(data).hexdigest()
    if len(data) > MAX_NOTEBOOK_BYTES:
        return {**row, "status": "invalid", "message": f"larger than {MAX_NOTEBOOK_BYTES >> 20} MB"}
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list) or not all(isinstance(c, dict) for c in nb.cells):
            raise ValueError("no list of cells")
    except Exception as err:  # noqa: BLE001 - anything unreadable is an invalid notebook
        return {**row, "status": "invalid", "message": f"not a Jupyter notebook ({type(err).__name__}: {str(err)[:150]})"}
    chapter = chapter_of(nb, path, known)
    if settings.chapter and chapter and chapter != settings.chapter:
        return {**row, "chapter": chapter, "status": "wrong_chapter",
                "message": f"this is the exercise notebook of {chapter}, not of {settings.chapter}"}
    chapter = chapter or settings.chapter
    if chapter not in known:
        why = f"unknown chapter {chapter!r}" if chapter else "cannot tell which chapter (no Grader line)"
        return {**row, "chapter": chapter or "", "status": "invalid", "message": why}
    cells = prepare_cells(nb)
    if not cells:
        return {**row, "chapter": chapter, "status": "invalid", "message": "no code cells to run"}
    return {**row, "chapter": chapter, "cells": cells, "notebook": data}


def chapter_questions(settings: Settings) -> dict:
    """``{chapter: {name: (Question, hidden checks)}}``, with ``--checks`` hidden checks added."""
    from .questions import CHAPTERS

    extra = runpy.run_path(str(settings.checks)).get("HIDDEN", {}) if settings.checks else {}
    return {chapter: {name: (q, tuple(q.hidden) + tuple(extra.get(chapter, {}).get(name, ())))
                      for name, q in questions.items()}
            for chapter, questions in CHAPTERS.items()}


# ----------------------------------------------------------------------------- results

def load_journal(path: Path) -> dict[str, dict]:
    """The latest row per submission path (a torn last line from an interrupted run is ignored)."""
    rows = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                rows[row["path"]] = row
            except (ValueError, KeyError, TypeError):
                continue
    return rows


def append_journal(path: Path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(row) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def write_csv(path: Path, rows: list[dict], questions: dict) -> None:
    """Rewrite the CSV atomically: one column per question of the chapters present."""
    names = list(dict.fromkeys(n for ch in questions for n in questions[ch]
                               if any(r["chapter"] == ch for r in rows)))
    columns = ["submission", "chapter", "status", "points", "max_points", *names,
               "seconds", "message", "feedback", "sha256"]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        for row in sorted(rows, key=lambda r: r["submission"]):
            per_question = {q["name"]: q["points"] for q in row.get("questions", [])}
            writer.writerow({**row, **per_question})
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def feedback_text(row: dict) -> str:
    lines = [f"Submission: {row['submission']}", f"Chapter: {row['chapter'] or '-'}",
             f"Status: {row['status']}" + (f": {row['message']}" if row.get("message") else ""),
             f"Score: {row['points']}/{row['max_points']} points", ""]
    for q in row.get("questions", []):
        lines.append(f"{q['status']} {q['name']} ({q['points']}/{q['max_points']} points): {q['reason']}")
    if row.get("events"):
        lines += ["", "While running the notebook:"] + [f"- {e['text']}" for e in row["events"]]
    if row["status"] not in ("invalid", "wrong_chapter"):
        lines += ["", "Every question was checked again by the grader, on the inputs shown in the",
                  "notebook and on others; output the notebook printed itself was not used."]
    return "\n".join(lines) + "\n"


def _feedback_path(settings: Settings, row: dict) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", row["submission"]).strip("_")[-120:]
    return settings.feedback / f"{slug}.{hashlib.sha1(row['path'].encode()).hexdigest()[:6]}.txt"


def _finish(row: dict, settings: Settings, questions: dict, started: float) -> dict:
    qs = questions.get(row.get("chapter"), {})
    row.setdefault("questions", [{"name": n, "points": 0, "max_points": q.points, "status": "FAIL",
                                  "reason": f"not graded: {row['status']}", "how": "-"}
                                 for n, (q, _) in qs.items()] if row["status"] != "invalid" else [])
    row.setdefault("events", [])
    row.setdefault("message", "")
    row["points"] = sum(q["points"] for q in row["questions"])
    row["max_points"] = sum(q["max_points"] for q in row["questions"])
    row["seconds"] = round(time.monotonic() - started, 2)
    row.pop("cells", None)
    row.pop("notebook", None)
    path = _feedback_path(settings, row)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback_text(row), encoding="utf-8")
    row["feedback"] = str(path)
    return row


# ----------------------------------------------------------------------------- running

def _preload() -> str:
    """Import what the judge needs once, before forking; return the setup preamble."""
    from . import notebooks, runtime  # noqa: F401
    from .sandbox import preload

    preload()
    install, _, preamble = notebooks.SETUP_CELL.partition("\n\n")
    if "%pip" in preamble or "import gm_course" not in preamble:
        raise RuntimeError("the setup cell no longer has the form 'install block, blank line, imports'")
    return preamble


def _fork_judge(task: dict, questions: dict, preamble: str, limits: dict, zygote, keep_closed: list[int]):
    from .sandbox import judge

    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the judge process
        code = 0
        try:
            os.setpgid(0, 0)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.close(r)
            for fd in keep_closed:
                os.close(fd)
            try:
                out = judge(task["cells"], preamble, questions[task["chapter"]], limits, zygote,
                            task["notebook"], Path(task["submission"]).name)
            except BaseException as err:  # noqa: BLE001 - report, never hang the batch
                out = {"status": "crashed", "message": f"grader error: {type(err).__name__}: {err}"[:300]}
            data, view = json.dumps(out).encode("utf-8"), None
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    os.close(w)
    return pid, r


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def run_tasks(tasks: list[dict], settings: Settings, questions: dict,
              on_row: Callable[[dict], None]) -> None:
    """Grade ``tasks`` (from :func:`read_submission`), ``settings.jobs`` at a time; call
    ``on_row`` with each finished row as soon as it is known."""
    from .zygote import Zygote, ZygoteGone

    preamble = _preload()
    limits = {"cell_timeout": settings.cell_timeout, "timeout": settings.timeout,
              "memory_mb": settings.memory_mb}
    jobs = max(1, min(settings.jobs, len(tasks)))
    free = [Zygote(settings.sandbox) for _ in range(jobs)]  # one sandbox per worker
    busy: dict[int, Zygote] = {}  # fd -> the sandbox its judge uses

    def release(fd: int) -> None:
        """Kill what the submission left in its sandbox; replace a sandbox that is gone."""
        zygote = busy.pop(fd)
        if not settings.sandbox_per_submission:
            try:
                zygote.stop()
                free.append(zygote)
                return
            except ZygoteGone:
                pass
        zygote.close()
        free.append(Zygote(settings.sandbox))

    queue, running = deque(tasks), {}  # fd -> [pid, task, deadline, chunks, started]
    try:
        while queue or running:
            while queue and free:
                task, zygote = queue.popleft(), free.pop()
                keep_closed = list(running) + [z.sock.fileno() for z in free + list(busy.values())]
                pid, fd = _fork_judge(task, questions, preamble, limits, zygote, keep_closed)
                busy[fd] = zygote
                running[fd] = [pid, task, time.monotonic() + settings.timeout + 60, [], time.monotonic()]
            wait = max(0.0, min(r[2] for r in running.values()) - time.monotonic())
            ready, _, _ = select.select(list(running), [], [], wait)
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    running[fd][3].append(chunk)
                    continue
                pid, task, _, chunks, started = running.pop(fd)
                os.close(fd)
                _kill_group(pid)
                release(fd)  # ends anything the learner left behind
                try:
                    out = json.loads(b"".join(chunks))
                except ValueError:
                    out = {"status": "crashed", "message": "the grading process died without a result"}
                on_row(_finish({**task, **out}, settings, questions, started))
            for fd in [fd for fd, r in running.items() if time.monotonic() > r[2]]:
                pid, task, _, _, started = running.pop(fd)
                os.close(fd)
                _kill_group(pid)
                release(fd)
                on_row(_finish({**task, "status": "timeout",
                                "message": f"grading took longer than {settings.timeout:g} s"},
                               settings, questions, started))
    finally:
        for fd, (pid, *_rest) in running.items():
            os.close(fd)
            _kill_group(pid)
        for zygote in free + list(busy.values()):
            zygote.close()


def grade(paths, settings: Settings, log: Callable[[str], None] = print) -> list[dict]:
    """Grade every submission under ``paths``; write the CSV, journal and feedback files;
    return the rows of this run and earlier runs (one per submission)."""
    if settings.sandbox:
        from . import bubblewrap

        bubblewrap.probe()  # SandboxUnavailable says why; the CLI explains --unsafe-no-sandbox
        bubblewrap.check_paths_hidden([*paths, settings.out.parent, settings.feedback,
                                       *([settings.checks] if settings.checks else [])])
    questions = chapter_questions(settings)
    if settings.chapter and settings.chapter not in questions:
        raise ValueError(f"--chapter {settings.chapter!r}: no graded questions; "
                         f"chapters: {', '.join(questions)}")
    files, warnings = find_submissions(paths)
    for warning in warnings:
        log(f"warning: {warning}")
    files, keys = shards.select(paths, files, settings)
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    if settings.fresh:
        settings.journal.unlink(missing_ok=True)
    done = load_journal(settings.journal)
    rows = {p: r for p, r in done.items()}
    tasks, skipped, total = [], 0, len(files)

    def record(row: dict) -> None:
        append_journal(settings.journal, row)
        rows[row["path"]] = row
        write_csv(settings.out, list(rows.values()), questions)
        log(f"[{len(rows_now) + 1}/{total}] {row['submission']}: {row['status']} "
            f"{row['points']}/{row['max_points']} ({row['seconds']:.1f} s)")
        rows_now.append(row)

    rows_now: list[dict] = []
    for path in files:
        task = {**read_submission(path, settings, questions), "relative": keys[path]}
        previous = done.get(task["path"])
        if previous is not None and previous.get("sha256") == task["sha256"]:
            skipped += 1
            continue
        if "cells" in task:
            tasks.append(task)
        else:
            record(_finish(task, settings, questions, time.monotonic()))
    if skipped:
        log(f"{skipped} submission(s) already graded with the same content: skipped (--fresh regrades)")
    write_csv(settings.out, list(rows.values()), questions)
    if tasks:
        run_tasks(tasks, settings, questions, record)
    counts = {s: sum(r["status"] == s for r in rows.values()) for s in STATUSES}
    log(f"{len(rows)} submission(s) in {settings.out}: "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n) if rows else
        f"no submissions found; wrote an empty {settings.out}")
    shards.finish(settings, list(rows.values()), questions, files, log)
    return list(rows.values())
