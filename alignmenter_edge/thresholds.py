"""What a flagging threshold may be, for manifests, options and the command line alike."""

from __future__ import annotations

import math
import numbers
from typing import Any

THRESHOLD_RULE = "a finite number in (0, 1]; 0 would flag nothing"


def _is_real(value: Any) -> bool:
    """A real number, numpy's too (np.float32(0.5)), but not a bool (numpy's neither)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def is_valid_threshold(value: Any) -> bool:
    """True for a usable flagging threshold: a real number, finite, in (0, 1]."""
    return _is_real(value) and math.isfinite(value) and 0 < value <= 1


def check_threshold(value: Any) -> float:
    """``value`` as a float threshold; ValueError saying what a threshold must be otherwise (and,
    for a value that is no real number, its type: "0.5" looks like 0.5 when printed)."""
    if not is_valid_threshold(value):
        kind = "" if _is_real(value) else f" (a {type(value).__name__}, not a real number)"
        raise ValueError(f"threshold must be {THRESHOLD_RULE}, got {value!r}{kind}.")
    return float(value)


def parse_threshold(value: Any) -> float:
    """A threshold given as text (command line, environment, config) or as a number; ValueError
    saying what a threshold must be otherwise."""
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        raise ValueError(f"threshold must be {THRESHOLD_RULE}, got {value!r}.") from None
    return check_threshold(number)
