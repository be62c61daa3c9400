"""Long-input windowing and length bucketing, shared by the model tiers (no numpy needed)."""

from __future__ import annotations

from typing import Sequence, TypeVar

T = TypeVar("T")


def token_windows(ids: Sequence[T], size: int, stride: int | None = None) -> list[list[T]]:
    """Split ``ids`` into windows of at most ``size`` tokens that overlap by ``size - stride``.

    A sequence that fits is returned whole; otherwise windows start every ``stride`` tokens
    (default: half a window) and the last window ends at the last token, so every token is
    covered and none is dropped. Callers score each window and keep the most unsafe.
    """
    if size < 1:
        raise ValueError(f"window size must be positive, got {size}")
    stride = stride or max(1, size // 2)
    if not 0 < stride <= size:
        raise ValueError(f"stride must be in 1..{size}, got {stride}")
    if len(ids) <= size:
        return [list(ids)]
    starts = list(range(0, len(ids) - size, stride)) + [len(ids) - size]
    return [list(ids[start:start + size]) for start in starts]


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Group item indices into batches of similar length (longest first) to minimise padding.

    Returns lists of indices into ``lengths``; callers restore input order with them.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
