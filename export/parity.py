"""Reference-vs-exported comparisons shared by both exports; results go into the manifest."""

from __future__ import annotations

import math
from typing import Any, Sequence

from ..classifier import is_flagged
from ..errors import ExportError


def compare_unsafe_probabilities(reference: Sequence[float], candidate: Sequence[float],
                                 threshold: float = 0.5) -> dict[str, Any]:
    """Max and mean |Δ P(unsafe)| over a probe set, and how often both flag a probe alike under
    the bundle's own rule (``classifier.is_flagged``: safety score 1 - P(unsafe) < ``threshold``)."""
    if len(reference) != len(candidate) or not reference:
        raise ExportError(f"parity needs two equal, non-empty probe results "
                          f"(got {len(reference)} and {len(candidate)}).")
    deltas = [abs(float(r) - float(c)) for r, c in zip(reference, candidate)]
    agree = sum(is_flagged(1.0 - float(r), threshold) == is_flagged(1.0 - float(c), threshold)
                for r, c in zip(reference, candidate))
    return {
        "probes": len(deltas),
        "max_abs_diff_p_unsafe": max(deltas),
        "mean_abs_diff_p_unsafe": sum(deltas) / len(deltas),
        "label_agreement": agree / len(deltas),
        "threshold": threshold,
    }


def max_abs_diff(reference: Sequence[Sequence[float]], candidate: Sequence[Sequence[float]]) -> float:
    """Largest element-wise |Δ| between two equally shaped nested sequences (e.g. logits)."""
    worst = 0.0
    for ref_row, cand_row in zip(reference, candidate, strict=True):
        for r, c in zip(ref_row, cand_row, strict=True):
            worst = max(worst, abs(float(r) - float(c)))
    return worst


def require_within(what: str, value: float, tolerance: float) -> None:
    """Fail the export loudly when a parity figure exceeds its tolerance (NaN fails too)."""
    if not value <= tolerance:
        raise ExportError(
            f"parity check failed: {what} = {value:.3g} exceeds the tolerance {tolerance:.1g}. "
            "The exported model does not reproduce the reference; the bundle was not written."
        )


QUANTIZED_TOLERANCE = 0.25  # default largest |Δ P(unsafe)| a quantized model may show on a probe


def check_tolerance(what: str, value: Any) -> float:
    """``value`` as a tolerance, a finite number > 0; ExportError naming ``what`` otherwise (an
    infinite tolerance would pass anything, a negative or NaN one fail everything, after the slow
    steps)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise ExportError(f"{what} must be a finite number above 0, got {value!r}.")
    return number


def check_quantized_tolerance(value: float | None) -> float:
    """``--quantized-tolerance`` (``None``: the default, QUANTIZED_TOLERANCE), checked."""
    return check_tolerance("--quantized-tolerance", QUANTIZED_TOLERANCE if value is None else value)


def require_quantized_parity(what: str, stats: dict[str, Any], tolerance: float) -> None:
    """Fail the export when a quantized model moves some probe's P(unsafe) by more than
    ``tolerance`` from the reference: broken, not rounded. The figures are in ``stats``."""
    worst = stats["max_abs_diff_p_unsafe"]
    if not worst <= tolerance:
        raise ExportError(
            f"{what}: a probe's P(unsafe) moved by {worst:.3g} from the reference (label agreement "
            f"{stats['label_agreement']:.2f}), over the quantized tolerance {tolerance:g}. The "
            "quantized model does not behave like the original; nothing was written. Export "
            "unquantized, try another quantization, or accept it with a larger --quantized-tolerance.")
