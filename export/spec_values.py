"""Numbers an export takes from its model spec or options, checked before any slow step: a bad
value fails at once, naming the field, not after minutes of loading and converting."""

from __future__ import annotations

from typing import Any

from ..errors import ExportError
from ..thresholds import THRESHOLD_RULE, is_valid_threshold
from ..values import is_integer
from ..windows import check_window


def spec_threshold(spec: dict[str, Any], default: float = 0.5) -> float:
    """The spec's ``threshold`` (the bundle's flagging threshold)."""
    value = spec.get("threshold", default)
    if not is_valid_threshold(value):
        raise ExportError(f"the model spec's threshold must be {THRESHOLD_RULE}, got {value!r}; "
                          "fix the spec.")
    return float(value)


def token_count(what: str, value: Any) -> int:
    """``value`` as a positive whole number of tokens."""
    if not is_integer(value) or value < 1:
        raise ExportError(f"{what} must be a positive whole number of tokens, got {value!r}.")
    return value


def checked_stride(what: str, size: int, stride: Any) -> int:
    """``stride`` if windows of ``size`` tokens can start every ``stride`` tokens."""
    try:
        return check_window(size, stride)
    except ValueError as exc:
        raise ExportError(f"{what}: {exc}") from None
