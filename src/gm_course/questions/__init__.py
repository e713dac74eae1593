"""The graded questions of every chapter, checked offline by :mod:`gm_course.grading`.

``CHAPTERS`` maps a chapter id (the notebook's file name without ``.ipynb``) to its
questions, ``{name: Question(points, check, statement)}``, in the order the notebook asks
them. One module per chapter (``ch01``, ``ch02``, ...); a new chapter adds its module here.
"""

from __future__ import annotations

from typing import Mapping

from ..grading import Question
from . import ch01, ch02

CHAPTERS: Mapping[str, Mapping[str, Question]] = {
    module.CHAPTER: module.QUESTIONS for module in (ch01, ch02)
}

__all__ = ["CHAPTERS", "ch01", "ch02"]
