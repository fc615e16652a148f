"""Turning exceptions from Keras, tf2onnx and friends into one-line messages for people.

Those libraries raise long multi-line errors (stack dumps of graphs, lists of
layers); logs, admin pages and API answers need the first, telling line.
"""

from __future__ import annotations

MAX_LENGTH = 300


def first_line(exc: BaseException) -> str:
    """The first non-empty line of ``exc``'s message, shortened; the type name when it has none."""
    lines = str(exc).strip().splitlines()
    return (lines[0][:MAX_LENGTH] if lines else "") or type(exc).__name__
