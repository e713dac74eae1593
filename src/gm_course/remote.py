"""Calling a function that lives in another process, passing only plain values.

The batch grader's judge process (:mod:`gm_course.sandbox`) calls the learner's functions
through a :class:`Channel`: the arguments are sent over a pipe, the function runs in the
learner's process, and the result comes back. Messages are ``torch.save`` payloads read with
``torch.load(weights_only=True)``, which rebuilds tensors, numbers, strings and containers and
nothing executable, so a learner's return value cannot run code in the judge.

The codec tags each value: tensors (detached; whether they carried a graph is recorded),
numpy arrays and scalars, ``torch.Generator`` (by state; its state after the call comes back
to the caller's generator), callables (a handle: calling it calls back into the side that
owns it, so a check may pass a score function; a :func:`portable` function of the package
travels by name instead and is rebuilt on the learner's side, so autograd can go through
it), anything else as an opaque stand-in whose class has the original type's name (so a
check can still say "got MyThing"). Input tensors
the callee changed in place are copied back, so checks that forbid that still see it.
``Channel.limited`` records that something lost detail in transit.
"""

from __future__ import annotations

import builtins
import importlib
import io
import os
import select
import signal
import struct
import time
import traceback

import numpy as np
import torch

from .grading import _LIBRARY_DIRS, _PACKAGE_DIR

MAX_MESSAGE = 256 << 20  # bytes; a larger answer is refused


class Gone(Exception):
    """The other process closed its end of the pipe (it died or was killed)."""


class TooSlow(Exception):
    """No answer before the deadline."""


class Timeout(BaseException):
    """Raised inside learner code by the per-cell or per-call alarm (a BaseException, so an
    ``except Exception`` in the learner's code does not swallow it)."""


_PORTABLE = "__gm_course_portable__"


def portable(fn):
    """Mark a module-level function of ``gm_course`` to travel by name: the learner's side
    imports it from its own copy of the package (public code), so the learner's function gets
    a real function it can differentiate through, not a handle that calls back."""
    module, name = getattr(fn, "__module__", ""), getattr(fn, "__qualname__", "")
    if not module.startswith("gm_course.") or "<" in name or "." in name:
        raise ValueError(f"portable functions must be module-level functions of gm_course, "
                         f"got {module}.{name}")
    setattr(fn, _PORTABLE, (module, name))
    return fn


# ----------------------------------------------------------------------------- framing

def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def send(fd: int, obj) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    _write_all(fd, struct.pack("<Q", len(data)) + data)


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TooSlow
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise Gone
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv(fd: int, deadline: float | None = None):
    (n,) = struct.unpack("<Q", _read_exact(fd, 8, deadline))
    if n > MAX_MESSAGE:
        raise Gone(f"a message of {n} bytes (more than {MAX_MESSAGE})")
    try:
        return torch.load(io.BytesIO(_read_exact(fd, n, deadline)), weights_only=True)
    except (TooSlow, Gone):
        raise
    except Exception as err:  # noqa: BLE001 - a malformed message ends the conversation
        raise Gone(f"an unreadable message ({type(err).__name__})") from err


# ----------------------------------------------------------------------------- values

def _opaque(type_name: str, text: str):
    """A stand-in for a value that cannot cross: its class has the original type's name."""
    name = str(type_name)[:80] or "object"
    return type(name, (), {"__repr__": lambda self: f"<{name} {text}>"[:200]})()


class Channel:
    """One end of the conversation: encodes values, serves calls, makes calls.

    ``namespace`` (learner side) holds the functions callable by name; ``handles`` hold the
    callables this side passed to the other. ``deadline`` (judge side) bounds every wait.
    """

    def __init__(self, rfd: int, wfd: int, namespace: dict | None = None, call_timeout: float | None = None):
        self.rfd, self.wfd = rfd, wfd
        self.namespace = namespace
        self.call_timeout = call_timeout
        self.handles: dict[int, object] = {}
        self.limited = False  # a value lost something in transit (opaque, graph dropped)
        self.deadline: float | None = None  # judge side: no wait goes past it
        self.call_limit: float | None = None  # judge side: seconds one call may take
        self.raised: list[tuple[str, str]] = []  # errors the other side reported
        self.broken: Exception | None = None  # judge side: the learner stopped answering
        self.special: dict = {}  # learner side: targets other than names ("audit")
        self.accept_portable = False  # learner side: rebuild portable functions by name
        self.depth = 0

    # values -> safe payload
    def encode(self, v, depth: int = 0):
        if depth > 32:
            return ("o", "object", "nested too deeply")
        if type(v) in (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device):
            return ("s", v)
        if isinstance(v, torch.Tensor):
            t = v.detach()
            if type(t) is not torch.Tensor:
                t = t.as_subclass(torch.Tensor)
            return ("t", t, bool(v.requires_grad), v.grad_fn is not None)
        if isinstance(v, np.ndarray) and v.dtype.kind in "biufc":
            try:
                return ("n", torch.from_numpy(np.array(v, copy=True)))
            except (TypeError, ValueError):
                pass
        if isinstance(v, np.generic) and v.dtype.kind in "biufc":
            return ("ns", v.dtype.str, v.item())
        if isinstance(v, torch.Size):
            return ("S", list(v))
        if isinstance(v, torch.Generator):
            return ("g", v.get_state(), str(v.device))
        if type(v) in (list, tuple):
            return ("l" if type(v) is list else "u", [self.encode(x, depth + 1) for x in v])
        if type(v) is dict:
            return ("d", [(self.encode(k, depth + 1), self.encode(x, depth + 1)) for k, x in v.items()])
        if callable(v):
            named = getattr(v, _PORTABLE, None)
            if isinstance(named, tuple):
                return ("p", *named)
            self.handles[len(self.handles)] = v
            return ("f", len(self.handles) - 1, getattr(v, "__name__", type(v).__name__))
        try:
            text = repr(v)[:100]
        except Exception:  # noqa: BLE001 - a learner's __repr__ may raise
            text = ""
        return ("o", type(v).__name__, text)

    def decode(self, node):
        tag = node[0]
        if tag == "s":
            return node[1]
        if tag == "t":
            t, requires_grad, had_graph = node[1], node[2], node[3]
            if requires_grad and (t.is_floating_point() or t.is_complex()):
                t.requires_grad_(True)
            self.limited |= bool(had_graph)
            return t
        if tag == "n":
            return node[1].numpy()
        if tag == "ns":
            return np.dtype(node[1]).type(node[2])
        if tag == "S":
            return torch.Size(node[1])
        if tag == "g":
            g = torch.Generator(device=node[2])
            g.set_state(node[1])
            return g
        if tag in ("l", "u"):
            items = [self.decode(x) for x in node[1]]
            return items if tag == "l" else tuple(items)
        if tag == "d":
            return {self.decode(k): self.decode(x) for k, x in node[1]}
        if tag == "f":
            return Remote(self, ("handle", int(node[1])), str(node[2]))
        if tag == "p":
            module, name = str(node[1]), str(node[2])
            if self.accept_portable and module.startswith("gm_course."):
                fn = getattr(importlib.import_module(module), name)
                if getattr(fn, _PORTABLE, None) == (module, name):
                    return fn
            self.limited = True
            return _opaque("function", f"{module}.{name}")
        if tag == "o":
            self.limited = True
            return _opaque(node[1], node[2])
        raise ValueError(f"unknown tag {tag!r}")

    # calling the other side
    def call(self, target, args: tuple, kwargs: dict):
        try:
            send(self.wfd, {"op": "call", "target": target, "args": self.encode(args), "kwargs": self.encode(kwargs)})
        except BrokenPipeError as err:
            self.broken = Gone("the other process has exited")
            raise self.broken from err
        deadline = self.deadline
        if self.call_limit is not None:
            deadline = min(deadline or float("inf"), time.monotonic() + self.call_limit)
        while True:
            try:
                msg = recv(self.rfd, deadline)
            except (TooSlow, Gone) as err:
                self.broken = err
                raise
            if msg["op"] == "call":
                self.serve(msg)
                continue
            if msg["op"] == "raise":
                self.raised.append((str(msg["type"]), str(msg["text"])))
                raise _remote_error(msg)
            if msg["op"] == "return":
                for where, value in msg["changed"]:
                    _copy_back(args, kwargs, where, self.decode(value))
                return self.decode(msg["value"])
            raise Gone(f"an unexpected message {msg['op']!r}")

    # serving a call from the other side
    def serve(self, msg) -> None:
        target = msg["target"]
        args, kwargs = self.decode(msg["args"]), self.decode(msg["kwargs"])
        before = {w: _snapshot(v) for w, v in _top_level(args, kwargs)}
        outer = self.depth == 0 and self.call_timeout is not None
        self.depth += 1
        try:
            if target[0] == "handle":
                fn = self.handles[target[1]]
            elif self.namespace is None:  # the judge serves handles only
                raise LookupError(f"no function {target!r} here")
            else:
                fn = self.special[target[0]] if target[0] in self.special else self.namespace[target[1]]
            if outer:
                signal.setitimer(signal.ITIMER_REAL, self.call_timeout)
            try:
                out = fn(*args, **kwargs)
            finally:
                if outer:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException as err:  # noqa: BLE001 - everything is reported to the caller
            if isinstance(err, Timeout):
                err = TimeoutError(f"did not return within {self.call_timeout:g} s")
            send(self.wfd, {"op": "raise", **describe(err)})
            return
        finally:
            self.depth -= 1
        changed = [(w, self.encode(v)) for w, v in _top_level(args, kwargs) if _snapshot(v) != before[w]]
        send(self.wfd, {"op": "return", "value": self.encode(out), "changed": changed})

    def serve_forever(self) -> None:
        while True:
            msg = recv(self.rfd)
            if msg["op"] == "call":
                try:
                    self.serve(msg)
                except Timeout:  # the alarm fired between the call and disarming it
                    send(self.wfd, {"op": "raise", "type": "TimeoutError", "text": "timed out", "line": None})
            elif msg["op"] == "stop":
                return


class Remote:
    """A callable standing for a function on the other side of a :class:`Channel`."""

    def __init__(self, channel: Channel, target, name: str):
        self._channel, self._target, self.__name__ = channel, target, name

    def __call__(self, *args, **kwargs):
        return self._channel.call(self._target, args, kwargs)

    def __repr__(self):
        return f"<remote function {self.__name__}>"


def _top_level(args: tuple, kwargs: dict):
    yield from ((("a", i), v) for i, v in enumerate(args) if isinstance(v, (torch.Tensor, torch.Generator)))
    yield from ((("k", k), v) for k, v in kwargs.items() if isinstance(v, (torch.Tensor, torch.Generator)))


def _snapshot(v):
    if isinstance(v, torch.Generator):
        return bytes(v.get_state().numpy())
    t = v.detach()
    return (tuple(t.shape), t.dtype, bytes(t.cpu().contiguous().view(-1).view(torch.uint8).numpy()))


def _copy_back(args: tuple, kwargs: dict, where, value) -> None:
    """Give the caller's argument the state it had on the other side after the call."""
    kind, key = where
    mine = args[key] if kind == "a" else kwargs[key]
    if isinstance(mine, torch.Generator) and isinstance(value, torch.Generator):
        mine.set_state(value.get_state())
    elif isinstance(mine, torch.Tensor) and isinstance(value, torch.Tensor):
        with torch.no_grad():
            if mine.shape == value.shape and mine.dtype == value.dtype:
                mine.copy_(value)
            else:
                mine.data = value.to(mine.device)


def describe(err: BaseException) -> dict:
    """Type name, message and the learner's line (the deepest frame outside libraries)."""
    line = getattr(err, "lineno", None) if isinstance(err, SyntaxError) else None
    if line is None:
        frames = [f for f in traceback.extract_tb(err.__traceback__)
                  if not f.filename.startswith(_LIBRARY_DIRS + (_PACKAGE_DIR,))]
        line = frames[-1].lineno if frames else None
    try:
        text = (err.msg if isinstance(err, SyntaxError) else str(err))[:300]
    except Exception:  # noqa: BLE001
        text = ""
    if isinstance(err, MemoryError) and not text:
        text = "the memory cap was reached"
    return {"type": type(err).__name__[:80], "text": text, "line": line}


def _remote_error(msg) -> Exception:
    """The learner's exception, rebuilt on the judge side (a builtin type when it was one)."""
    name, text = str(msg["type"]), str(msg["text"])
    if msg.get("line"):
        text = f"{text} (line {msg['line']})"
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(text)
        except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError needs five arguments
            pass
    return type(name, (Exception,), {})(text)
