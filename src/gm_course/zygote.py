"""A warm process inside the sandbox that starts each learner process by forking.

Importing torch, NumPy, Matplotlib and IPython costs about a second of CPU; paying it for
every submission would more than double the time to grade a class. So each grading worker
starts one **zygote** (``python -I -m gm_course.zygote``) inside a bubblewrap sandbox
(:mod:`gm_course.bubblewrap`). It imports those libraries once, then waits for the grader's
orders on a Unix socket:

- ``spawn``: the judge of one submission sends the two pipe ends the learner process will
  use (over the socket, as file descriptors) with the cells, the setup preamble, the
  question names, the limits and the notebook itself. The zygote first **resets** the
  sandbox: it kills every other process in the sandbox's PID namespace (``kill(-1)``: what an
  earlier submission left running, however it detached) and empties the home folder,
  ``/tmp`` and ``/dev/shm``; then it writes the notebook into the empty home folder and forks
  the learner process (:func:`gm_course.sandbox.learner_main`);
- ``stop``: kill the learner process, reset, and answer how it ended (``exit code 3``,
  ``killed by SIGKILL``...); ``ping``: answer (the grader checks the zygote between
  submissions and starts a new sandbox when it is gone).

The zygote never runs learner code and never holds the hidden checks or the grader's
results: it was started with a fresh interpreter (``exec``, not a fork of the grader), and
receives only the public pieces listed above. It makes itself non-dumpable, so a learner
process (same user, no capabilities) cannot attach a debugger to it or read its memory.
A learner that kills the zygote only ends its own grading; the next submission gets a new
sandbox.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import bubblewrap

HOME = bubblewrap.HOME
_WIPED = (HOME, "/tmp", "/dev/shm")


# ----------------------------------------------------------------------------- inside the sandbox

def _non_dumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): no ptrace or /proc/<pid>/mem access from same-user processes."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _other_processes() -> list[int]:
    """The sandbox's processes other than this one and its init (PID 1)."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]


def _reset(sandboxed: bool) -> int:
    """Kill every process of the sandbox but this one (and its init); empty its writable
    folders; return how many processes were still running."""
    if not sandboxed:
        return 0
    leftover = len(_other_processes())
    for _ in range(100):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        if not _other_processes():
            break
        time.sleep(0.01)
    mounts = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
    for folder in _WIPED:
        _empty(Path(folder), mounts)
    return leftover


def _empty(folder: Path, mounts: set[str]) -> None:
    """Delete what ``folder`` holds, sparing the read-only mounts inside it (a Python
    environment that lives under /tmp) and the folders that lead to them."""
    for entry in folder.iterdir() if folder.is_dir() else ():
        path = str(entry)
        try:
            if path in mounts:
                continue
            if any(m.startswith(path + "/") for m in mounts):
                _empty(entry, mounts)
            elif entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink()
        except OSError:
            pass


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return f"killed by {name}" + (" (CPU time limit)" if sig == signal.SIGXCPU else "")
    return f"exit code {os.WEXITSTATUS(status)}"


def _memory_bytes(memory_mb: int) -> int:
    """Address-space cap: what the preloaded libraries already map plus ``memory_mb``."""
    with open("/proc/self/status") as f:
        size_kb = next((int(line.split()[1]) for line in f if line.startswith("VmSize:")), 0)
    return size_kb * 1024 + memory_mb * (1 << 20)


def serve(sock: socket.socket, sandboxed: bool) -> None:
    """The zygote's loop (see the module doc)."""
    from .remote import Gone, recv, send
    from .sandbox import learner_main, preload

    preload()
    _non_dumpable()
    fd, child, home = sock.fileno(), None, Path(os.environ.get("HOME") or HOME)

    def stop_child() -> tuple[str, int]:
        """Kill the learner process and everything else; how it ended, how many it left."""
        nonlocal child
        how, leftover = "ended", 0
        if child is not None:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                how = _exit_text(os.waitpid(child, 0)[1])
            except ChildProcessError:
                pass
            child = None
        leftover += _reset(sandboxed)
        return how, max(leftover, 0)

    send(fd, {"op": "ready", "pid": os.getpid()})
    while True:
        _, fds, _, _ = socket.recv_fds(sock, 1, 2)
        try:
            msg = recv(fd)
        except Gone:
            stop_child()
            return
        if msg["op"] == "spawn":
            stop_child()
            name = Path(str(msg["filename"])).name or "submission.ipynb"
            (home / name).write_text(str(msg["notebook"]), encoding="utf-8")
            limits = msg["limits"]
            pid = os.fork()
            if pid == 0:
                try:
                    sock.close()
                    os.chdir(home)
                    learner_main(msg["cells"], msg["preamble"], msg["names"], fds[0], fds[1],
                                 _memory_bytes(int(limits["memory_mb"])),
                                 float(limits["cell_timeout"]), int(limits["timeout"]) + 5)
                finally:
                    os._exit(0)
            child = pid
            for f in fds:
                os.close(f)
            send(fd, {"op": "spawned", "id": msg["id"]})
        elif msg["op"] == "stop":
            how, leftover = stop_child()
            send(fd, {"op": "stopped", "id": msg["id"], "how": how, "leftover": leftover})
        elif msg["op"] == "ping":
            send(fd, {"op": "pong", "id": msg["id"]})


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    serve(sock, sandboxed=sys.argv[2] == "sandboxed")


# ----------------------------------------------------------------------------- outside: the client

class ZygoteGone(Exception):
    """The zygote stopped answering (a learner killed it, or it crashed)."""


class Zygote:
    """The grader's handle on one zygote (one per grading worker)."""

    def __init__(self, sandboxed: bool = True, start_timeout: float = 120.0):
        self.sandboxed, self._home, self.leftover = sandboxed, None, 0
        self.sock, theirs = socket.socketpair()
        env = {"PATH": "/usr/bin:/bin", "HOME": HOME, "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
               "MPLCONFIGDIR": "/tmp/matplotlib", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        argv = [sys.executable, "-I", "-m", "gm_course.zygote", str(theirs.fileno()),
                "sandboxed" if sandboxed else "unsafe"]
        if sandboxed:
            argv = bubblewrap.command(argv, env)
            env = {}
        else:
            self._home = tempfile.mkdtemp(prefix="gm-course-learner-")
            env = {**os.environ, **env, "HOME": self._home}
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(argv, pass_fds=[theirs.fileno()], env=env or None,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=self._log, start_new_session=True)
        theirs.close()
        try:
            self._expect("ready", None, time.monotonic() + start_timeout)
        except ZygoteGone as err:
            self.close()
            self._log.seek(0)
            tail = self._log.read().decode(errors="replace").strip().splitlines()[-3:]
            raise bubblewrap.SandboxUnavailable(
                "the learner sandbox did not start: " + (" | ".join(tail) or str(err))) from err

    def _expect(self, op: str, request_id, deadline: float) -> dict:
        from .remote import Gone, TooSlow, recv

        while True:
            try:
                msg = recv(self.sock.fileno(), deadline)
            except (Gone, TooSlow, OSError, ValueError) as err:
                raise ZygoteGone(f"the sandbox's zygote did not answer ({type(err).__name__})") from err
            if msg.get("op") == op and msg.get("id") == request_id:  # older answers are skipped
                return msg

    def _request(self, msg: dict, fds=(), timeout: float = 30.0) -> dict:
        from .remote import send

        request_id = secrets.token_hex(8)
        try:
            socket.send_fds(self.sock, [b"F"], list(fds))
            send(self.sock.fileno(), {**msg, "id": request_id})
        except OSError as err:
            raise ZygoteGone("the sandbox's zygote has gone") from err
        return self._expect({"spawn": "spawned", "stop": "stopped", "ping": "pong"}[msg["op"]],
                            request_id, time.monotonic() + timeout)

    def spawn(self, rfd: int, wfd: int, cells, preamble: str, names, limits: dict,
              notebook: bytes, filename: str) -> None:
        """Start a learner process reading ``rfd`` and writing ``wfd`` (ends to hand over)."""
        self._request({"op": "spawn", "cells": cells, "preamble": preamble, "names": list(names),
                       "limits": {k: limits[k] for k in ("memory_mb", "cell_timeout", "timeout")},
                       "notebook": notebook.decode("utf-8", "replace"), "filename": filename},
                      fds=(rfd, wfd))

    def stop(self) -> str:
        """Kill the learner process and whatever it started; how it ended. ``self.leftover``:
        how many other processes were still running in the sandbox."""
        answer = self._request({"op": "stop"})
        self.leftover = int(answer.get("leftover", 0))
        return answer["how"]

    def alive(self) -> bool:
        try:
            self._request({"op": "ping"}, timeout=10.0)
            return True
        except ZygoteGone:
            return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()
        if self._home:
            shutil.rmtree(self._home, ignore_errors=True)


if __name__ == "__main__":
    main()
