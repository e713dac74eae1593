"""Deliberately wrong answers ("mutants") to the graded questions, one module per chapter.

Each ``chNN.py`` defines ``CHAPTER`` (the notebook stem) and
``MUTANTS = {question name: {label: wrong implementation}}``. The grading tests require at
least three per question and that every one of them loses its points.
"""

from importlib import import_module
from pathlib import Path


def collect_mutants() -> dict:
    """``{(chapter, question): {label: fn}}`` over every chapter module in this folder."""
    found = {}
    for path in sorted(Path(__file__).parent.glob("ch[0-9][0-9].py")):
        module = import_module(f"{__name__}.{path.stem}")
        for question, mutants in module.MUTANTS.items():
            found[module.CHAPTER, question] = mutants
    return found
