"""Grading one submission: the learner's cells run in a sandboxed process, the checks outside.

Used by :mod:`gm_course.batch` (``gm-course grade``). Two processes per submission:

- the **learner process** runs the notebook's code cells (setup and grader lines removed)
  in a fresh IPython shell, under an address-space cap (``RLIMIT_AS``), a CPU-time cap and
  a per-cell alarm; then it waits for calls. It is forked by the worker's zygote
  (:mod:`gm_course.zygote`) inside a bubblewrap sandbox (:mod:`gm_course.bubblewrap`): no
  network, no view of the machine's files beyond the read-only Python environment, a home
  folder holding only a copy of its own notebook. It receives the question *names* only;
  no check, public or hidden, is ever loaded into it;
- the **judge process**, outside the sandbox, never executes learner code. It runs the
  public and hidden checks of :mod:`gm_course.questions` with a stand-in for each learner
  function: calling it sends the arguments to the learner process, which runs the real
  function and sends the result back. So a cell (or a function body) that rebinds
  ``gm_course.grading.run_check``, ``CheckFailed`` or ``expect.close`` changes the learner
  process only; scores printed by the notebook are never read.

Values cross the pipe as plain data (:mod:`gm_course.remote`): nothing the learner returns
can run code in the judge. A check that must hand the learner a function to differentiate
through passes a *portable* one (:func:`gm_course.remote.portable`), rebuilt in the learner
process from the package by name.
"""

from __future__ import annotations

import os
import resource
import signal
import time

from .remote import Channel, Gone, Remote, Timeout, TooSlow, _opaque, describe, recv, send
from .zygote import ZygoteGone

GRACE = 5.0  # seconds the judge waits past a soft timeout before killing the learner process


# ----------------------------------------------------------------------------- the learner process

def _grader_state() -> dict:
    """Identity of every object the grader is made of: module attributes of ``gm_course.*``,
    the attributes of classes defined there and the entries of dicts held there (two levels:
    ``CHAPTERS[chapter][question]``)."""
    import sys

    state = {}
    for mod_name, module in list(sys.modules.items()):
        if not mod_name.startswith("gm_course") or module is None or mod_name in (__name__, "gm_course.batch"):
            continue
        for attr, value in list(vars(module).items()):
            key = f"{mod_name}.{attr}"
            state[key] = id(value)
            if isinstance(value, type) and value.__module__ == mod_name:
                state.update({f"{key}.{k}": id(v) for k, v in vars(value).items()})
            elif isinstance(value, dict) or type(value).__name__ == "mappingproxy":
                for k, v in list(value.items())[:200]:
                    state[f"{key}[{k!r}]"] = id(v)
                    if isinstance(v, dict):
                        state.update({f"{key}[{k!r}][{k2!r}]": id(v2) for k2, v2 in list(v.items())[:200]})
    return state


def _audit() -> list[str]:
    """The grader's parts that learner code rebound or removed (it was in vain: see module doc)."""
    now, before = _grader_state(), _STATE["before"]
    changed = sorted(k for k, v in before.items() if now.get(k) != v)
    tops = [k for k in changed if not any(k != o and k.startswith((o + ".", o + "[")) for o in changed)]
    return tops[:20]


_STATE: dict = {}  # the grader's state before any learner code ran (for the audit)


def preload() -> None:
    """Import what every notebook needs, once, before the zygote forks learner processes."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import matplotlib.pyplot  # noqa: F401
    import torch
    from IPython.core.interactiveshell import InteractiveShell  # noqa: F401
    from traitlets.config import Config  # noqa: F401

    import gm_course  # noqa: F401
    import gm_course.questions  # noqa: F401  (public code; imported so the audit covers it)
    torch.set_num_threads(1)


def _alarm(signum, frame):
    raise Timeout


class InertGrader:
    """Stands for the notebook's ``grader``: checks nothing, prints nothing, ``passed`` is
    False (so the ungraded "try it" cells take their short branch)."""

    def check(self, *args, **kwargs):
        return None

    def summary(self, *args, **kwargs):
        return None

    def passed(self, *args, **kwargs):
        return False


MAX_PROCESSES = 256  # RLIMIT_NPROC of the learner (not enforced for root; see the zygote's reset)


def learner_main(cells, preamble: str, names, rfd: int, wfd: int,
                 memory_bytes: int, cell_timeout: float, cpu_seconds: int) -> None:
    """Body of the learner process (forked by the zygote, which never returns here)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
    except (ValueError, OSError):
        pass
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    channel = Channel(rfd, wfd, namespace=shell.user_ns, call_timeout=cell_timeout)
    channel.accept_portable = True
    channel.special = {"audit": _audit}
    shell.run_cell(preamble, store_history=False, silent=True)
    _STATE["before"] = _grader_state()
    shell.user_ns["grader"] = InertGrader()
    for index, source in cells:
        send(wfd, {"op": "cell", "index": index})
        error = None
        try:
            signal.setitimer(signal.ITIMER_REAL, cell_timeout)
            try:
                result = shell.run_cell(source, store_history=False, silent=True)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            err = result.error_before_exec or result.error_in_exec
            error = describe(err) if err is not None else None
        except Timeout:
            error = {"type": "Timeout", "text": "", "line": None}
        send(wfd, {"op": "done", "index": index, "error": error})
    namespace = shell.user_ns
    send(wfd, {"op": "ready", "names": {n: _kind(namespace[n]) if n in namespace else None for n in names}})
    channel.serve_forever()


def _kind(value) -> str:
    return "callable" if callable(value) else type(value).__name__[:80]


# ----------------------------------------------------------------------------- the judge process

SEVERITY = {"tampered": 5, "crashed": 4, "timeout": 3, "memory": 2, "error": 1}
_MEMORY_WORDS = ("can't allocate memory", "not enough memory", "out of memory")


def _error_kind(error: dict) -> str:
    if error["type"] == "Timeout":
        return "timeout"
    if error["type"] == "MemoryError" or any(w in error["text"] for w in _MEMORY_WORDS):
        return "memory"
    return "error"


class _Learner:
    """The judge's handle on one learner process (forked by the zygote inside the sandbox)."""

    def __init__(self, zygote, rfd: int, wfd: int):
        self.zygote, self.rfd, self.wfd, self.alive, self.names = zygote, rfd, wfd, True, {}

    def stop(self) -> str:
        """Kill the process and all it started (if still running); return how it ended."""
        self.alive = False
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            return self.zygote.stop()
        except ZygoteGone:
            return "the sandbox ended"

    died = stop  # after EOF: the zygote reaps it and says how it ended


def judge(cells, preamble: str, questions: dict, limits: dict, zygote,
          notebook: bytes = b"", filename: str = "submission.ipynb") -> dict:
    """Grade one submission. Runs in its own (forked) process and never runs learner code.

    Args:
        cells: ``[(cell number, source)]`` to execute, setup and grader lines removed.
        preamble: what replaces the setup cell (imports, ``device``).
        questions: ``{name: (Question, hidden checks)}`` of the chapter, in order.
        limits: ``cell_timeout`` and ``timeout`` (seconds), ``memory_mb``.
        zygote: the :class:`gm_course.zygote.Zygote` that starts learner processes.
        notebook, filename: the submission, copied into the learner's home folder.

    Returns:
        ``{"status", "message", "events": [...], "questions": [result dicts + "how"]}``.
    """
    from .grading import FAIL, PASS, Question, Result, run_check

    cell_timeout, start = float(limits["cell_timeout"]), time.monotonic()
    total_deadline = start + float(limits["timeout"])
    first_line = {i: (src.strip().splitlines() or [""])[0][:60] for i, src in cells}
    events: list[dict] = []
    skipped: set[int] = set()

    def where(index) -> str:
        return f"cell {index} ({first_line[index]!r})" if index in first_line else "the setup"

    def spawn() -> _Learner:
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        try:
            zygote.spawn(r1, w2, [c for c in cells if c[0] not in skipped], preamble,
                         list(questions), limits, notebook, filename)
        finally:
            os.close(r1)
            os.close(w2)
        return _Learner(zygote, r2, w1)

    def run_cells() -> _Learner | None:
        """Start a learner process and run the cells; on a fatal cell, skip it and retry."""
        for _ in range(3):
            try:
                learner, current, since = spawn(), None, time.monotonic()
            except ZygoteGone:
                events.append({"kind": "crashed", "cell": None,
                               "text": "the sandbox stopped answering (did the notebook kill it?)"})
                return None
            while True:
                deadline = min(since + cell_timeout + GRACE, total_deadline)
                try:
                    msg = recv(learner.rfd, deadline)
                except TooSlow:
                    learner.stop()
                    events.append({"kind": "timeout", "cell": current,
                                   "text": f"{where(current)} was still running after "
                                           f"{time.monotonic() - since:.0f} s; it was stopped"})
                    break
                except Gone:
                    how = learner.died()
                    events.append({"kind": "crashed", "cell": current,
                                   "text": f"the notebook's process died in {where(current)} ({how})"})
                    break
                if msg["op"] == "cell":
                    current, since = int(msg["index"]), time.monotonic()
                elif msg["op"] == "done":
                    current, since = None, time.monotonic()
                    if msg["error"] is not None:
                        error = {k: msg["error"].get(k) for k in ("type", "text", "line")}
                        kind = _error_kind(error)
                        line = f" (line {error['line']})" if error.get("line") else ""
                        text = (f"{where(int(msg['index']))} ran out of time (limit {cell_timeout:g} s)"
                                if kind == "timeout" else
                                f"{where(int(msg['index']))} raised {error['type']}: {error['text'][:200]}{line}")
                        events.append({"kind": kind, "cell": int(msg["index"]), "text": text})
                elif msg["op"] == "ready":
                    learner.names = dict(msg["names"])
                    return learner
            if current is None or time.monotonic() >= total_deadline:
                return None
            skipped.add(current)
        return None

    learner, results, restarts = run_cells(), [], 0
    for name, (question, hidden) in questions.items():
        if (learner is None or not learner.alive) and restarts < 2 and time.monotonic() < total_deadline:
            restarts += 1
            learner = run_cells()
        if learner is None or not learner.alive:
            results.append({**Result(name, 0, question.points, FAIL,
                                     "not checked: the notebook's process had stopped").to_dict(), "how": "-"})
            continue
        kind = learner.names.get(name)
        channel = Channel(learner.rfd, learner.wfd)
        channel.deadline, channel.call_limit = total_deadline, cell_timeout + GRACE
        if kind is None:
            result, how = Result(name, 0, question.points, FAIL,
                                 f"the notebook defines no {name} (did its cell run without errors?)"), "-"
        else:
            fn = Remote(channel, ("name", name), name) if kind == "callable" else _opaque(kind, "")
            result, how = run_check(name, question, fn), "isolated"
            for check in hidden if result.status == PASS else ():
                extra = run_check(name, Question(question.points, check, question.statement), fn)
                if extra.status != PASS:
                    result = Result(name, 0, question.points, FAIL, "hidden check: " + extra.reason)
                    break
        for type_name, text in channel.raised:
            if type_name == "TimeoutError" and text.startswith("did not return within"):
                events.append({"kind": "timeout", "cell": None, "text": f"{name} {text}"})
            elif _error_kind({"type": type_name, "text": text}) == "memory":
                events.append({"kind": "memory", "cell": None, "text": f"{name} ran out of memory: {text[:200]}"})
        if channel.broken is not None:
            how_ended = learner.stop()
            kind_ = "timeout" if isinstance(channel.broken, TooSlow) else "crashed"
            text = (f"{name} did not return within {cell_timeout + GRACE:g} s; the process was stopped"
                    if kind_ == "timeout" else f"the notebook's process died while {name} ran ({how_ended})")
            events.append({"kind": kind_, "cell": None, "text": text})
            result = Result(name, 0, question.points, FAIL, text)
        results.append({**result.to_dict(), "how": how})
    if learner is not None and learner.alive:
        channel = Channel(learner.rfd, learner.wfd)
        channel.deadline = time.monotonic() + 10
        try:
            changed = channel.call(("audit",), (), {})
            if changed:
                events.append({"kind": "tampered", "cell": None, "text": "the notebook rebound parts of "
                               "the grader (no effect: the checks ran in another process): " + ", ".join(changed)})
        except Exception:  # noqa: BLE001 - an audit that fails changes nothing
            pass
        try:
            send(learner.wfd, {"op": "stop"})
        except OSError:
            pass
        learner.stop()
        if zygote.leftover:
            events.append({"kind": "error", "cell": None,
                           "text": f"the notebook left {zygote.leftover} process(es) running after "
                                   "grading; the sandbox killed them"})
    worst = max(events, key=lambda e: SEVERITY[e["kind"]], default=None)
    return {"status": worst["kind"] if worst else "ok", "message": worst["text"] if worst else "",
            "events": events, "questions": results}
