"""Headline numbers: the few measured values a chapter stands on.

A chapter prints each one with :func:`headline`; the benchmark script
(``scripts/benchmark.py``) executes every notebook and collects these lines into its table,
so the numbers in the book and in the benchmark are the same numbers.
"""

from __future__ import annotations

import math
import re

PREFIX = "headline"
_LINE = re.compile(rf"^{PREFIX} \| (?P<name>[^|]+?) \| (?P<value>\S+)(?: (?P<unit>.*))?$", re.M)


def headline(name: str, value: float, unit: str = "") -> None:
    """Print ``headline | name | value unit`` (value with 4 significant digits)."""
    if not isinstance(name, str) or not name.strip() or "|" in name:
        raise ValueError(f"name must be a non-empty string without '|', got {name!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"value of {name!r} must be finite, got {value}")
    print(f"{PREFIX} | {name.strip()} | {value:.4g}" + (f" {unit}" if unit else ""))


def parse_headlines(text: str) -> dict[str, str]:
    """The ``{name: "value unit"}`` pairs printed by :func:`headline` in ``text``."""
    return {m["name"]: (m["value"] + (f" {m['unit']}" if m["unit"] else "")) for m in _LINE.finditer(text)}
