"""gm_course: the helper package of the executable course on generative modeling.

One module per topic; chapters import the package as ``import gm_course as gmc``:

- :mod:`~gm_course.runtime`     seeding, device, CPU threads (the notebooks' setup cell)
- :mod:`~gm_course.densities`   exact toy densities: Gaussian mixtures (and their noised
  versions), the 8-Gaussian ring, a banana and a checkerboard
- :mod:`~gm_course.histograms`  density by counting: joint, marginal, conditional
- :mod:`~gm_course.quadrature`  grid quadrature: log Z, entropy, KL of gridded densities
- :mod:`~gm_course.metrics`     energy distance, MMD, KL gaps, mode coverage
- :mod:`~gm_course.plots`       figures (the only module that draws)
- :mod:`~gm_course.grading`, :mod:`~gm_course.questions`   graded exercises, checked offline
- :mod:`~gm_course.notebooks`   the setup cell and the exercise generator
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
