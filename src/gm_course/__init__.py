"""gm_course: the helper package of the executable course on generative modeling.

One module per topic; chapters import the package as ``import gm_course as gmc``:

- :mod:`~gm_course.runtime`     seeding, device, CPU threads (the notebooks' setup cell)
- :mod:`~gm_course.densities`   exact toy densities: Gaussian mixtures (and their noised
  versions), the 8-Gaussian ring, a banana and a checkerboard
- :mod:`~gm_course.histograms`  density by counting: joint, marginal, conditional
- :mod:`~gm_course.quadrature`  grid quadrature: log Z, entropy, KL of gridded densities
- :mod:`~gm_course.metrics`     energy distance, MMD, KL gaps, mode coverage and mode summaries
- :mod:`~gm_course.training`    the one training loop (Adam, lr decay, EMA, progress bar)
- :mod:`~gm_course.ebm`         energy-based models: MLP energy, exponential family on a grid,
  the "data average − model average" gradient, contrastive divergence, persistent chains
- :mod:`~gm_course.nce`         noise-contrastive estimation: the classifier loss, noise densities
- :mod:`~gm_course.samplers`    Langevin, MALA, HMC (leapfrog), parallel tempering, AIS, ESS
- :mod:`~gm_course.diffusion`   the course's diffusion: forward noising, reverse ODE (Euler, Heun)
  and SDE taking ``score_fn(x, t)``, exact Gaussian map, EDM sampler, DSM and EDM losses
- :mod:`~gm_course.ddpm`        the discrete DDPM recipe: β schedules, q_sample, ε-loss, ancestral, DDIM
- :mod:`~gm_course.nets`        sinusoidal and Fourier embeddings, score MLPs, EDM preconditioning
- :mod:`~gm_course.unet`        a small U-Net ε_θ(x, t): separate encoder/decoder, skips, time per block
- :mod:`~gm_course.image_metrics` digits split, classifier features, Fréchet distance, KDE baseline,
  memorisation share
- :mod:`~gm_course.variational` the variational view: q(x_{t−Δt}|x_t, x_0), per-step KLs, ε/x_0/score
- :mod:`~gm_course.plots`       figures (the only module that draws)
- :mod:`~gm_course.flows`       normalizing flows: affine and spline couplings, free-form ODE flows
- :mod:`~gm_course.vae`         VAEs: the ELBO, the exact linear-Gaussian model, a small MLP VAE
- :mod:`~gm_course.gan`         GANs: the min-max losses, the alternating loop
- :mod:`~gm_course.flow_matching` flow matching: the linear path's exact marginal velocity,
  its score form, the CFM loss, ODE integration, reflow and straightness
- :mod:`~gm_course.gaussian_chain` diffusion of 1-D Gaussian data as a linear-Gaussian chain: path
  joints, the reverse-time factorisation, the ELBO in closed form
- :mod:`~gm_course.animations`  animations of particles and images that play in the static site
- :mod:`~gm_course.grading`, :mod:`~gm_course.questions`   graded exercises, checked offline
- :mod:`~gm_course.notebooks`   the setup cell and the exercise generator
- :mod:`~gm_course.batch`       ``gm-course grade``: a class's notebooks graded into a CSV
- :mod:`~gm_course.sandbox`     one submission: learner code and checks in separate processes
- :mod:`~gm_course.bubblewrap`  the learner's sandbox: the bubblewrap command line and its probe
- :mod:`~gm_course.zygote`      a warm process in the sandbox that forks each learner process
- :mod:`~gm_course.remote`      calling a function in another process with plain values only
- :mod:`~gm_course.report`      headline numbers a chapter prints and the benchmark collects
"""

from importlib import import_module
from importlib.util import find_spec

__version__ = "0.1.0"


def __getattr__(name):
    # Submodules load on first use (``gmc.plots`` imports matplotlib only when needed).
    if not name.startswith("_") and find_spec(f"{__name__}.{name}") is not None:
        module = import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'gm_course' has no attribute {name!r}")
