"""Binary classification metrics in pure Python (no numpy needed), checked against scikit-learn.

Orientation: **unsafe is the positive class**. Every function takes ``labels`` (1/True = unsafe,
0/False = safe) and ``risks``, scores that are higher for more unsafe texts. The curves and
areas need only their order: evaluation passes ``-safety_score``, which keeps every distinct
safety score distinct (``1 - s`` does not: ``1 - 0.1 == 1 - 0.10000000000000002``). Calibration
needs probabilities: there ``risk = 1 - safety_score``, the predicted P(unsafe).

Curves follow scikit-learn's conventions exactly, including ties: texts with equal risk enter
the curve together as one point, and the area under a tied segment is a trapezoid (a tie between
a positive and a negative counts one half). A metric that is undefined for the data (for example
AUROC when only one class is present) is returned as ``None`` — never a made-up number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .classifier import is_flagged

__all__ = [
    "CurvePoint",
    "Confusion",
    "roc_points",
    "roc_auc",
    "roc_auc_of",
    "average_precision",
    "average_precision_of",
    "confusion_by_safety",
    "operating_point",
    "operating_point_of",
    "calibration_bins",
    "expected_calibration_error",
]


@dataclass(frozen=True)
class CurvePoint:
    """One point of the ROC: flag every text whose risk is >= ``threshold``."""

    threshold: float  # +inf for the first point (flag nothing)
    tp: int
    fp: int


@dataclass(frozen=True)
class Confusion:
    """Counts at one decision rule, with the rates that are defined for them."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        return self.fp + self.tn

    @property
    def tpr(self) -> float | None:
        """Recall of unsafe texts; None without unsafe texts."""
        return _ratio(self.tp, self.positives)

    @property
    def fnr(self) -> float | None:
        """Miss rate (unsafe texts passed as safe); None without unsafe texts."""
        return _ratio(self.fn, self.positives)

    @property
    def fpr(self) -> float | None:
        """Over-flagging of safe texts; None without safe texts."""
        return _ratio(self.fp, self.negatives)

    @property
    def precision(self) -> float | None:
        """None when nothing is flagged (scikit-learn would warn and report 0)."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def accuracy(self) -> float | None:
        return _ratio(self.tp + self.tn, self.positives + self.negatives)

    @property
    def f1(self) -> float | None:
        """F1 of the unsafe class; None without unsafe texts. 0.0 if none is caught."""
        if self.positives == 0:
            return None
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)

    def as_dict(self) -> dict[str, float | int | None]:
        return {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn,
                "tpr": self.tpr, "fnr": self.fnr, "fpr": self.fpr, "precision": self.precision,
                "f1": self.f1, "accuracy": self.accuracy}


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _check(labels: Sequence[int | bool], risks: Sequence[float]) -> tuple[list[int], list[float]]:
    if len(labels) != len(risks):
        raise ValueError(f"{len(labels)} labels but {len(risks)} scores.")
    ys = [1 if y else 0 for y in labels]
    rs = [float(r) for r in risks]
    for i, r in enumerate(rs):
        if not math.isfinite(r):
            raise ValueError(f"score {r!r} (position {i}) is not a finite number; metrics need finite "
                             "scores (no NaN or inf).")
    return ys, rs


def roc_points(labels: Sequence[int | bool], risks: Sequence[float]) -> list[CurvePoint]:
    """Cumulative (tp, fp) at every distinct risk, highest first, after a (0, 0) start point.

    The same points as ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``.
    """
    ys, rs = _check(labels, risks)
    order = sorted(range(len(rs)), key=lambda i: rs[i], reverse=True)
    points = [CurvePoint(math.inf, 0, 0)]
    tp = fp = 0
    for position, i in enumerate(order):
        if ys[i]:
            tp += 1
        else:
            fp += 1
        is_last_of_tie = position + 1 == len(order) or rs[order[position + 1]] != rs[i]
        if is_last_of_tie:
            points.append(CurvePoint(rs[i], tp, fp))
    return points


def _both_classes(points: Sequence[CurvePoint]) -> bool:
    """Whether the curve has positives and negatives (else areas under curves are undefined)."""
    return points[-1].tp > 0 and points[-1].fp > 0


def roc_auc(labels: Sequence[int | bool], risks: Sequence[float]) -> float | None:
    """Area under the ROC (trapezoids, ties as in scikit-learn); None unless both classes occur."""
    return roc_auc_of(roc_points(labels, risks))


def roc_auc_of(points: Sequence[CurvePoint]) -> float | None:
    """:func:`roc_auc` of a curve from :func:`roc_points` (build it once for several metrics)."""
    if not _both_classes(points):
        return None
    positives, negatives = points[-1].tp, points[-1].fp
    area = 0.0
    for prev, cur in zip(points, points[1:]):
        area += (cur.fp - prev.fp) * (cur.tp + prev.tp) / 2.0
    return area / (positives * negatives)


def average_precision(labels: Sequence[int | bool], risks: Sequence[float]) -> float | None:
    """Area under the precision-recall curve as scikit-learn's ``average_precision_score``:
    sum over distinct thresholds of (recall gain) x precision. None unless both classes occur
    (with one class it is either undefined or trivially 1.0, which says nothing about the model).
    """
    return average_precision_of(roc_points(labels, risks))


def average_precision_of(points: Sequence[CurvePoint]) -> float | None:
    """:func:`average_precision` of a curve from :func:`roc_points`."""
    if not _both_classes(points):
        return None
    positives = points[-1].tp
    total = 0.0
    for prev, cur in zip(points, points[1:]):
        if cur.tp != prev.tp:
            total += (cur.tp - prev.tp) / positives * (cur.tp / (cur.tp + cur.fp))
    return total


def confusion_by_safety(labels: Sequence[int | bool], safety_scores: Sequence[float],
                        threshold: float) -> Confusion:
    """Counts under a classifier's own rule: flagged unsafe when ``safety_score < threshold``."""
    ys, ss = _check(labels, safety_scores)
    return _count(ys, [is_flagged(s, threshold) for s in ss])


def _count(ys: list[int], flagged: list[bool]) -> Confusion:
    tp = sum(1 for y, f in zip(ys, flagged) if y and f)
    fp = sum(1 for y, f in zip(ys, flagged) if not y and f)
    fn = sum(1 for y, f in zip(ys, flagged) if y and not f)
    tn = len(ys) - tp - fp - fn
    return Confusion(tp, fp, tn, fn)


def operating_point(labels: Sequence[int | bool], risks: Sequence[float],
                    max_fpr: float) -> dict[str, float | int | None]:
    """The most sensitive risk threshold whose false-positive rate stays <= ``max_fpr``.

    Returns the threshold (flag when risk >= threshold; None = flag nothing), its TPR and FPR.
    Without safe texts the FPR bound is undefined and every field is None.
    """
    return operating_point_of(roc_points(labels, risks), max_fpr)


def operating_point_of(points: Sequence[CurvePoint], max_fpr: float) -> dict[str, float | int | None]:
    """:func:`operating_point` on a curve from :func:`roc_points`."""
    positives, negatives = points[-1].tp, points[-1].fp
    if negatives == 0:
        return {"max_fpr": max_fpr, "threshold": None, "tpr": None, "fpr": None,
                "defined": False}
    best = points[0]
    for point in points[1:]:
        if point.fp / negatives <= max_fpr + 1e-12:
            best = point
        else:
            break  # fp only grows along the curve
    return {"max_fpr": max_fpr,
            "threshold": None if math.isinf(best.threshold) else best.threshold,
            "tpr": best.tp / positives if positives else None,
            "fpr": best.fp / negatives,
            "defined": True}


def calibration_bins(labels: Sequence[int | bool], risks: Sequence[float],
                     n_bins: int = 10) -> list[dict[str, float | int]]:
    """Equal-width bins over [0, 1] of predicted P(unsafe): count, mean prediction, unsafe rate.

    Bin i holds risks in [i/n, (i+1)/n); the last bin includes 1.0. Empty bins are omitted.
    """
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    ys, rs = _check(labels, risks)
    sums: dict[int, list[float]] = {}
    for y, r in zip(ys, rs):
        if not 0.0 <= r <= 1.0:
            raise ValueError(f"risk {r!r} is outside [0, 1]; calibration needs probabilities.")
        b = min(int(r * n_bins), n_bins - 1)
        if r < b / n_bins:  # r * n can round across an edge; the bounds decide, as the bins report them
            b -= 1
        elif b + 1 < n_bins and r >= (b + 1) / n_bins:
            b += 1
        acc = sums.setdefault(b, [0, 0.0, 0])
        acc[0] += 1
        acc[1] += r
        acc[2] += y
    return [{"low": b / n_bins, "high": (b + 1) / n_bins, "count": int(c),
             "mean_risk": s / c, "unsafe_rate": pos / c}
            for b, (c, s, pos) in sorted(sums.items())]


def expected_calibration_error(labels: Sequence[int | bool], risks: Sequence[float],
                               n_bins: int = 10) -> float | None:
    """ECE: sum over bins of (bin share) x |unsafe rate - mean predicted P(unsafe)|."""
    bins = calibration_bins(labels, risks, n_bins)
    total = sum(int(b["count"]) for b in bins)
    if total == 0:
        return None
    return sum(int(b["count"]) / total * abs(float(b["unsafe_rate"]) - float(b["mean_risk"]))
               for b in bins)
