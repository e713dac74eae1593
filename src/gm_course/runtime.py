"""The notebook setup cell: seeds, CPU threads and the device.

Every chapter starts with ``device = gm_course.runtime.setup(seed=0)``. That is the only
place a device is chosen; everything else follows the data (``x.device``).

Thread count, chosen by measurement: on a 2-core machine, training steps of a tiny MLP
(2 → 64 → 64 → 1, batch 256) were up to 10-16× faster with ``torch.set_num_threads(1)``
than with torch's default when another process was busy (6.5 ms vs 106 ms a step), and no
slower when the machine was idle: tiny matrix products do not amortise the cost of
synchronising threads, and a busy core stalls the others. So :func:`configure_threads`
defaults to one thread. Re-measure on your machine with :func:`time_mlp_step`, e.g.
``time_mlp_step(1)`` vs ``time_mlp_step(os.cpu_count())``.

The default dtype is left at float32 (fast for networks, what GPUs and Colab expect);
exact computations (densities, grids, metrics) ask for float64 explicitly.
"""

from __future__ import annotations

import statistics
import time

import torch

from ._validate import positive_int

__all__ = ["seed_everything", "pick_device", "configure_threads", "time_mlp_step", "setup"]

_DEFAULT_THREADS = 1


def seed_everything(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """Seed torch's global RNG (CPU and CUDA) and numpy's legacy global RNG; return a fresh
    ``torch.Generator`` seeded with ``seed``.

    The global torch seed makes network initialisation (which draws from the global RNG)
    repeatable; numpy's legacy global is seeded only because third-party code (e.g.
    scikit-learn with ``random_state=None``) may draw from it. Course code itself passes
    the returned generator explicitly (``generator=gen``) instead of using global state.

    Args:
        seed: an integer in [0, 2**32).
        device: where the returned generator lives (must match where samples are drawn).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    torch.manual_seed(seed)  # also seeds every CUDA device
    try:
        import numpy as np
    except ImportError:  # numpy is a dependency, but seeding it is only a courtesy
        pass
    else:
        np.random.seed(seed)
    return torch.Generator(device=torch.device(device)).manual_seed(seed)


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device for this session: ``prefer`` if given, else CUDA if available, else CPU.

    Args:
        prefer: ``None``, or a device such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.

    Raises:
        ValueError: if ``prefer`` is not a device name, or names an accelerator that is not
            available here.
    """
    if prefer is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(prefer)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"prefer must be None or a device name like 'cpu' or 'cuda', got {prefer!r}") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"prefer={prefer!r} but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"prefer={prefer!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"prefer={prefer!r} but MPS is not available on this machine")
    elif device.type != "cpu":
        raise ValueError(f"prefer must name 'cpu', 'cuda' or 'mps', got {prefer!r}")
    return device


def configure_threads(num_threads: int | None = None) -> int:
    """Set the number of CPU threads torch uses for intra-op parallelism; return it.

    ``None`` means 1, the measured best for the course's small models (see the module
    docstring). Pass ``os.cpu_count()`` to use every core.
    """
    n = _DEFAULT_THREADS if num_threads is None else positive_int(num_threads, "num_threads")
    torch.set_num_threads(n)
    return n


def time_mlp_step(num_threads: int, steps: int = 50, width: int = 64, batch: int = 256,
                  warmup: int = 5) -> float:
    """Median wall-clock seconds of one training step of a 2 → width → width → 1 MLP on CPU.

    One step = forward, mean-squared error, backward, Adam update, on a fixed batch of
    ``batch`` points. Runs ``warmup`` untimed steps first. The thread setting is restored
    afterwards and the global RNG is left untouched, so benchmarks can compare
    ``time_mlp_step(1)`` and ``time_mlp_step(os.cpu_count())`` side by side.
    """
    num_threads = positive_int(num_threads, "num_threads")
    steps = positive_int(steps, "steps")
    width = positive_int(width, "width")
    batch = positive_int(batch, "batch")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 2, generator=gen)
    y = torch.sin(x[:, :1]) * torch.cos(x[:, 1:])  # (batch, 1), any smooth target will do
    with torch.random.fork_rng(devices=[]):  # layer init draws from the global RNG
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(2, width), torch.nn.SiLU(),
            torch.nn.Linear(width, width), torch.nn.SiLU(),
            torch.nn.Linear(width, 1),
        )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = (net(x) - y).square().mean()
        loss.backward()
        opt.step()

    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        for _ in range(warmup):
            step()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return statistics.median(times)


def setup(seed: int = 0, device: str | torch.device | None = None, num_threads: int | None = None) -> torch.device:
    """The one call of a chapter's setup cell: seed, set CPU threads, pick the device.

    Equivalent to ``pick_device(device)``, ``seed_everything(seed)`` and
    ``configure_threads(num_threads)``. The default dtype is not changed (see the module docstring).
    Draw a local generator with ``torch.Generator().manual_seed(seed)`` (or call
    :func:`seed_everything` directly) when a chapter needs one.

    Returns:
        The chosen ``torch.device``.
    """
    chosen = pick_device(device)  # validate every argument before changing global state
    seed_everything(seed)
    configure_threads(num_threads)
    return chosen
