"""Long-input windowing and length bucketing, shared by the model tiers (no numpy needed)."""

from __future__ import annotations

from typing import Sequence, TypeVar

from .values import is_integer

T = TypeVar("T")


def token_windows(ids: Sequence[T], size: int, stride: int | None = None) -> list[list[T]]:
    """Split ``ids`` into windows of at most ``size`` tokens that overlap by ``size - stride``.

    A sequence that fits is returned whole; otherwise windows start every ``stride`` tokens
    (``None``: half a window; 0 is refused, not read as the default) and the last window ends at
    the last token, so every token is covered and none is dropped. Callers score each window and
    keep the most unsafe.
    """
    stride = check_window(size, max(1, size // 2) if stride is None else stride)
    if len(ids) <= size:
        return [list(ids)]
    return [list(ids[begin:stop]) for begin, stop in window_spans(len(ids), size, stride)]


def window_spans(count: int, size: int, stride: int) -> list[tuple[int, int]]:
    """``[begin, stop)`` spans of ``size`` items, ``stride`` apart, the last ending at ``count``
    (one span ``(0, count)`` when ``count <= size``), so every item is in a span. ``size`` and
    ``stride`` as :func:`check_window` accepts them."""
    if count <= size:
        return [(0, count)]
    return [(begin, begin + size) for begin in (*range(0, count - size, stride), count - size)]


def check_window(size: int, stride: int) -> int:
    """``stride``, if windows of ``size`` tokens can start every ``stride`` tokens (1..size);
    otherwise ValueError naming both. Tiers call it when they load, not at the first long text."""
    if not is_integer(size) or size < 1:
        raise ValueError(f"window size must be a positive integer, got {size!r}")
    if not is_integer(stride) or not 0 < stride <= size:
        raise ValueError(f"window stride {stride!r} does not fit a window of {size} tokens: it must be "
                         f"an integer in 1..{size}. Pass a smaller window_stride (or a larger "
                         "max_input_tokens).")
    return stride


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Group item indices into batches of similar length (longest first) to minimise padding.

    Returns lists of indices into ``lengths``; callers restore input order with them.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
