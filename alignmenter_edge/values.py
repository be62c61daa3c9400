"""What counts as a whole number in options, manifests and specs (standard library only)."""

from __future__ import annotations

from typing import Any


def is_integer(value: Any) -> bool:
    """True for an ``int`` that is not a ``bool``: ``True`` would silently be 1, and ``1.0`` or
    ``"1"`` are not whole-number settings."""
    return isinstance(value, int) and not isinstance(value, bool)
