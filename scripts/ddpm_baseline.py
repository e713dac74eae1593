"""Side-by-side benchmark: the standard 2-D DDPM recipe against chapter 8's small score model.

Both learn the 8-Gaussian ring from the same 8000 training points, draw 8000 samples and are
scored against 8000 fresh data points by the energy distance and the unbiased MMD², next to
the two-sample noise floor at the same size. At n = 2000 the floor (0.0035 ± 0.0014) is as
large as the differences between good models, so a comparison there is a coin toss; at
n = 8000 it is about four times smaller. The table gives the mean ± standard error over the
seeds. Seconds are CPU time of this process (training and sampling), with one torch thread;
both recipes run in the same process, so they see the same machine load.

- DDPM recipe (Ho et al., 2020, at the 2-D setting known to work): linear β from 1e-4 to
  0.02 with T = 1000, ε-prediction, a 128-wide MLP with three residual blocks and sinusoidal
  embeddings of x and t (:class:`gm_course.nets.ResidualMLP`), batch 32, 40 epochs over the
  8000 points (10 000 Adam steps, lr 1e-3 decaying to 1e-5), ancestral sampling with 1000 steps.
- Chapter 8's model: EDM preconditioning (:class:`gm_course.nets.EDMDenoiser`) of a 64-wide
  MLP on 16 Fourier features of x and a sinusoidal embedding of the noise level, trained with
  the EDM loss (denoising score matching), batch 512, 1000 steps, and sampled by
  probability-flow Heun steps on Karras's noise levels (:func:`gm_course.diffusion.edm_sample`).

Usage:  python scripts/ddpm_baseline.py [--seeds 0 1 2] [--skip-ddpm]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import torch

from gm_course import ddpm, densities, diffusion, metrics, nets
from gm_course.training import fit

RING = densities.eight_gaussians()
N_EVAL = 8000


def ddpm_recipe(data: torch.Tensor, seed: int) -> torch.Tensor:
    """Train the DDPM baseline on ``data`` and return ``N_EVAL`` samples."""
    g = torch.Generator().manual_seed(seed)
    schedule = ddpm.linear_schedule(1000, 1e-4, 0.02)
    model = nets.ResidualMLP(dim=2, width=128, n_blocks=3, emb_dim=128, generator=torch.Generator().manual_seed(seed))
    batch, epochs = 32, 40
    per_epoch = len(data) // batch
    order = torch.randperm(len(data), generator=g)

    def loss_fn(step: int) -> torch.Tensor:
        nonlocal order
        i = step % per_epoch
        if i == 0 and step > 0:
            order = torch.randperm(len(data), generator=g)
        return ddpm.eps_loss(model, schedule, data[order[i * batch:(i + 1) * batch]], g)

    fit(model, loss_fn, epochs * per_epoch, 1e-3, lr_final=1e-5)
    return ddpm.ancestral_sample(model, schedule, (N_EVAL, 2), torch.Generator().manual_seed(100 + seed))


def score_model_recipe(data: torch.Tensor, seed: int, steps: int = 1000, heun_steps: int = 32) -> torch.Tensor:
    """Train chapter 8's EDM-preconditioned score model on ``data``; return ``N_EVAL`` samples."""
    g = torch.Generator().manual_seed(seed)
    net = nets.ScoreMLP(dim=2, hidden=64, depth=3, emb_dim=16, c_scale=10.0, max_period=100.0,
                        fourier=16, fourier_scale=0.5, generator=torch.Generator().manual_seed(seed))
    denoiser = nets.EDMDenoiser(net, sigma_data=float(data.std()))

    def loss_fn(step: int) -> torch.Tensor:
        idx = torch.randint(0, len(data), (512,), generator=g)
        return diffusion.edm_loss(denoiser, data[idx], g)

    fit(denoiser, loss_fn, steps, 2e-2, lr_final=1e-4)
    sigmas = diffusion.edm_sigmas(heun_steps, 0.002, 80.0)
    x = sigmas[0] * torch.randn(N_EVAL, 2, generator=torch.Generator().manual_seed(100 + seed))
    with torch.no_grad():
        return diffusion.edm_sample(lambda x, t: denoiser.score(x, math.sqrt(t)), x, sigmas.float())


def measure(recipe, seed: int) -> tuple[float, float, float]:
    """(CPU seconds, energy distance, unbiased MMD²) of one recipe trained with ``seed``."""
    data = RING.sample(8000, torch.Generator().manual_seed(seed)).float()
    start = time.process_time()
    samples = recipe(data, seed)
    seconds = time.process_time() - start
    ref = RING.sample(N_EVAL, torch.Generator().manual_seed(200 + seed))
    samples = samples.double()
    return seconds, float(metrics.energy_distance(samples, ref)), float(metrics.mmd2_unbiased(samples, ref))


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and its standard error (0 for a single value)."""
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return statistics.mean(values), se


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--skip-ddpm", action="store_true", help="only the fast model (for quick checks)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    pairs = 5
    floor_mean, floor_std = (float(v) for v in metrics.two_sample_floor(
        RING.sample, N_EVAL, repeats=pairs, generator=torch.Generator().manual_seed(1000)))
    floor_se = floor_std / math.sqrt(pairs)
    recipes = [("chapter 8 score model (EDM, 32 Heun steps)", score_model_recipe)]
    if not args.skip_ddpm:
        recipes.insert(0, ("DDPM recipe (T = 1000, batch 32, 40 epochs)", ddpm_recipe))
    print(f"8-Gaussian ring, {N_EVAL} samples against {N_EVAL} fresh data points; seeds {args.seeds}; "
          f"mean ± standard error over seeds; CPU seconds, 1 thread")
    print(f"energy-distance floor at this size (data vs data, {pairs} pairs): {floor_mean:.4f} ± {floor_se:.4f}\n")
    print(f"| {'model':44s} | CPU s (train + sample) | energy distance   | MMD² (unbiased)     |")
    print(f"|{'-' * 46}|-----------------------:|------------------:|--------------------:|")
    rows = {}
    for name, recipe in recipes:
        results = [measure(recipe, s) for s in args.seeds]
        sec, ed, mmd = (mean_se([r[i] for r in results]) for i in range(3))
        rows[name] = (sec, ed, mmd)
        print(f"| {name:44s} | {sec[0]:14.1f} ± {sec[1]:5.1f} | {ed[0]:.4f} ± {ed[1]:.4f} | "
              f"{mmd[0]:+.1e} ± {mmd[1]:.1e} |", flush=True)
    if len(rows) == 2:
        (s_ddpm, e_ddpm, _), (s_fast, e_fast, _) = rows.values()
        verdict = "same or better" if e_fast[0] <= e_ddpm[0] + math.hypot(e_fast[1], e_ddpm[1]) else "worse"
        print(f"\nCPU time ratio {s_ddpm[0] / s_fast[0]:.1f}x; energy distance {e_fast[0]:.4f} vs {e_ddpm[0]:.4f} "
              f"({verdict} within one standard error of the difference)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
