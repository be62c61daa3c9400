"""What a flagging threshold may be, for manifests, options and the command line alike."""

from __future__ import annotations

import math
from typing import Any

THRESHOLD_RULE = "a finite number in (0, 1]; 0 would flag nothing"


def is_valid_threshold(value: Any) -> bool:
    """True for a usable flagging threshold: a real number, finite, in (0, 1]."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and 0 < value <= 1)


def check_threshold(value: Any) -> float:
    """``value`` as a float threshold; ValueError saying what a threshold must be otherwise."""
    if not is_valid_threshold(value):
        raise ValueError(f"threshold must be {THRESHOLD_RULE}, got {value!r}.")
    return float(value)


def parse_threshold(value: Any) -> float:
    """A threshold given as text (command line, environment, config) or as a number; ValueError
    saying what a threshold must be otherwise."""
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        raise ValueError(f"threshold must be {THRESHOLD_RULE}, got {value!r}.") from None
    return check_threshold(number)
