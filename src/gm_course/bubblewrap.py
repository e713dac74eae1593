"""The learner's sandbox: a bubblewrap (``bwrap``) command line, and whether it can run here.

bubblewrap (Debian package ``bubblewrap``; the tool behind Flatpak's sandbox) starts a
process in new Linux namespaces. The grader's sandbox (:func:`command`) gets:

- new user, PID, network, IPC, UTS and cgroup namespaces (``--unshare-all``): the process sees
  only its own processes, has no network at all (not even 127.0.0.1 of the host), and no
  System V IPC or abstract sockets shared with the host;
- a new mount namespace holding only: ``/usr`` (with the ``/bin``, ``/lib`` links), the
  loader cache and font configuration of ``/etc``, the Python installation, the course's
  virtual environment and the package's source folder, all **read-only**; a fresh ``/proc``
  and a minimal ``/dev``; private tmpfs for ``/tmp`` and the home folder
  :data:`HOME` (its working folder);
- no capabilities (``--cap-drop ALL``), a new session (no terminal to inject keystrokes
  into), a cleared environment, and ``--die-with-parent``: it ends when the grader does.

Nothing else of the machine is mounted: not the submissions, the results, the feedback
folder, the ``--checks`` file, other home folders. :func:`check_paths_hidden` refuses to
grade when one of those lies inside a folder the sandbox mounts.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

HOME = "/home/learner"
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
                "/etc/fonts", "/etc/localtime")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here."""


@functools.cache
def mounted_folders() -> tuple[Path, ...]:
    """The folders the sandbox shows (read-only): the Python installation, the virtual
    environment, and every folder on the module path of ``python -I`` (which leaves out the
    working folder and ``PYTHONPATH``) outside those, such as an editable install's ``src``."""
    code = "import sys; print('\\n'.join(sys.path))"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    candidates = [Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent]
    candidates += [Path(p) for p in out.splitlines() if p and Path(p).is_dir()]
    folders: list[Path] = []
    for path in sorted({p.resolve() for p in candidates}, key=lambda p: len(p.parts)):
        if str(path).startswith("/usr") or any(path.is_relative_to(f) for f in folders):
            continue
        folders.append(path)
    return tuple(folders)


def command(argv: list[str], env: dict[str, str]) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` in the sandbox with environment ``env``."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
           "--clearenv", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        target = Path("/") / name
        if target.is_symlink():
            cmd += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            cmd += ["--ro-bind", str(target), str(target)]
    for path in SYSTEM_FILES:
        cmd += ["--ro-bind-try", path, path]
    # the private tmpfs first: a Python environment under /tmp is then mounted on top of it
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", HOME, "--chdir", HOME]
    for folder in mounted_folders():
        cmd += ["--ro-bind", str(folder), str(folder)]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd + ["--", *argv]


def probe() -> None:
    """Raise :class:`SandboxUnavailable` with the reason when the sandbox cannot start here."""
    try:
        cmd = command([sys.executable, "-I", "-c", "import os; print(os.getpid())"], {})
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        raise SandboxUnavailable(f"bubblewrap could not start: {err}") from err
    if out.returncode != 0 or out.stdout.strip() not in ("1", "2"):
        reason = (out.stderr.strip().splitlines() or ["no message"])[-1]
        raise SandboxUnavailable(f"bubblewrap could not start a sandbox here: {reason}")


def check_paths_hidden(paths) -> None:
    """Refuse to grade when a private path (a submission, the results, the feedback folder,
    the hidden checks) lies inside a folder the sandbox mounts: the learner could read it."""
    folders = mounted_folders()
    for given in paths:
        path = Path(given).resolve()
        inside = [f for f in folders if path.is_relative_to(f)]
        if inside or str(path).startswith("/usr/"):
            where = inside[0] if inside else Path("/usr")
            raise ValueError(f"{given} lies inside {where}, which the sandbox shows to every "
                             "submission (read-only); keep submissions, results and checks "
                             "outside the Python environment and the package's folder")
