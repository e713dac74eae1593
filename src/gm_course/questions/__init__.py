"""The graded questions of every chapter, checked offline by :mod:`gm_course.grading`.

``CHAPTERS`` maps a chapter id (the notebook's file name without ``.ipynb``) to its
questions, ``{name: Question(points, check, statement)}``, in the order the notebook asks
them. One module per chapter, ``chNN.py``, defining ``CHAPTER`` and ``QUESTIONS``; every such
module in this package is registered, in chapter order.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module
from typing import Mapping

from ..grading import Question

_MODULES = [
    import_module(f"{__name__}.{info.name}")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
    if info.name.startswith("ch") and info.name[2:].isdigit()
]

CHAPTERS: Mapping[str, Mapping[str, Question]] = {
    module.CHAPTER: module.QUESTIONS for module in _MODULES
}

__all__ = ["CHAPTERS"]
