"""Pure-Python metrics against scikit-learn, on random, tied and degenerate data."""

from __future__ import annotations

import math
import random

import pytest

from alignmenter_edge import metrics
from tests.helpers import require

sk = require("sklearn.metrics")


def _cases():
    rng = random.Random(20240611)
    cases = []
    for n in (2, 3, 7, 50, 400):
        ys = [rng.randint(0, 1) for _ in range(n)]
        ys[0], ys[-1] = 0, 1  # both classes present
        cases.append(("continuous", ys, [rng.random() for _ in range(n)]))
        # heavy ties: heuristic-like scores on a 0.2 grid
        cases.append(("grid", ys, [rng.choice([0.0, 0.2, 0.4, 0.6, 0.8, 1.0]) for _ in range(n)]))
        cases.append(("two-values", ys, [rng.choice([0.0, 1.0 - 0.2]) for _ in range(n)]))
        # informative but tied: risk correlated with the label, rounded to 1 decimal
        cases.append(("informative", ys, [round(min(1, max(0, 0.5 * y + rng.random() * 0.6)), 1)
                                          for y in ys]))
    cases.append(("all-tied", [0, 1, 0, 1, 1], [0.3] * 5))
    cases.append(("perfect", [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]))
    cases.append(("inverted", [1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]))
    cases.append(("float-sub", [0, 1, 1, 0], [1 - 0.8, 1 - 0.6, 0.2, 1 - 1.0]))
    return cases


CASES = _cases()


@pytest.mark.parametrize("name,ys,rs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_auroc_and_auprc_match_sklearn(name, ys, rs):
    assert metrics.roc_auc(ys, rs) == pytest.approx(sk.roc_auc_score(ys, rs), abs=1e-12)
    assert metrics.average_precision(ys, rs) == pytest.approx(
        sk.average_precision_score(ys, rs), abs=1e-12)


@pytest.mark.parametrize("name,ys,rs", CASES[:12], ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES[:12])])
def test_roc_points_match_sklearn_curve(name, ys, rs):
    fpr, tpr, thr = sk.roc_curve(ys, rs, drop_intermediate=False)
    points = metrics.roc_points(ys, rs)
    pos, neg = points[-1].tp, points[-1].fp
    assert [p.fp / neg for p in points] == pytest.approx(list(fpr))
    assert [p.tp / pos for p in points] == pytest.approx(list(tpr))
    assert [p.threshold for p in points[1:]] == pytest.approx(list(thr[1:]))


def test_ties_count_half_like_sklearn():
    # one positive and one negative tied at the same score: AUROC 0.5, not 0 or 1
    assert metrics.roc_auc([0, 1], [0.4, 0.4]) == 0.5
    # a tie block spanning both classes is a diagonal segment of the ROC
    ys, rs = [1, 1, 0, 0, 1, 0], [0.9, 0.5, 0.5, 0.5, 0.1, 0.1]
    assert metrics.roc_auc(ys, rs) == pytest.approx(sk.roc_auc_score(ys, rs))
    assert metrics.roc_auc(ys, rs) != pytest.approx(_auc_without_tie_handling(ys, rs))


def _auc_without_tie_handling(ys, rs):
    """A naive rank-by-sort AUROC that breaks ties by input order (what we must not do)."""
    order = sorted(range(len(rs)), key=lambda i: -rs[i])
    tp = fp = area = 0
    for i in order:
        if ys[i]:
            tp += 1
        else:
            area += tp
            fp += 1
    return area / (tp * fp)


def test_one_class_is_undefined_never_invented():
    assert metrics.roc_auc([1, 1, 1], [0.1, 0.5, 0.9]) is None
    assert metrics.roc_auc([0, 0], [0.1, 0.5]) is None
    assert metrics.average_precision([1, 1], [0.2, 0.3]) is None
    op = metrics.operating_point([1, 1, 1], [0.1, 0.5, 0.9], 0.05)
    assert op["defined"] is False and op["tpr"] is None
    c = metrics.confusion_by_safety([1, 1, 1, 1], [0.1, 0.2, 0.9, 1.0], 0.5)
    assert (c.tpr, c.fnr, c.fpr) == (0.5, 0.5, None)
    assert c.f1 == pytest.approx(2 / 3)
    safe_only = metrics.confusion_by_safety([0, 0, 0, 0], [0.1, 0.9, 0.9, 1.0], 0.5)
    assert (safe_only.fpr, safe_only.tpr, safe_only.f1) == (0.25, None, None)


def test_the_one_confusion_rule_is_the_classifiers():
    """confusion_at (flag when risk >= t) served only the tests, beside the rule every command uses."""
    assert not hasattr(metrics, "confusion_at") and "confusion_at" not in metrics.__all__


@pytest.mark.parametrize("name,ys,ss", CASES[:16], ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES[:16])])
def test_confusion_f1_accuracy_match_sklearn(name, ys, ss):
    for cut in (0.0, 0.2, 0.5, 0.8, 1.0):
        pred = [1 if s < cut else 0 for s in ss]
        c = metrics.confusion_by_safety(ys, ss, cut)
        assert c.f1 == pytest.approx(sk.f1_score(ys, pred, zero_division=0.0))
        assert c.accuracy == pytest.approx(sk.accuracy_score(ys, pred))
        tn, fp, fn, tp = sk.confusion_matrix(ys, pred, labels=[0, 1]).ravel()
        assert (c.tp, c.fp, c.tn, c.fn) == (tp, fp, tn, fn)


def test_confusion_by_safety_uses_strict_less_than():
    c = metrics.confusion_by_safety([1, 0, 1], [0.5, 0.5, 0.49], 0.5)
    assert (c.tp, c.fp, c.fn, c.tn) == (1, 0, 1, 1)


def test_operating_point_is_most_sensitive_within_fpr_bound():
    rng = random.Random(3)
    ys = [rng.randint(0, 1) for _ in range(300)]
    rs = [round(rng.random() * 0.7 + 0.3 * y, 2) for y in ys]
    fpr, tpr, thr = sk.roc_curve(ys, rs, drop_intermediate=False)
    for target in (0.0, 0.005, 0.01, 0.05, 0.2):
        ok = [i for i in range(len(fpr)) if fpr[i] <= target]
        best = max(ok, key=lambda i: (tpr[i], -i))
        op = metrics.operating_point(ys, rs, target)
        assert op["tpr"] == pytest.approx(tpr[best])
        assert op["fpr"] <= target
        if op["threshold"] is not None:
            assert op["threshold"] == pytest.approx(thr[best])
            flagged = [int(r >= op["threshold"]) for r in rs]
            tn, fp, fn, tp = sk.confusion_matrix(ys, flagged, labels=[0, 1]).ravel()
            assert (tp / (tp + fn), fp / (fp + tn)) == pytest.approx((op["tpr"], op["fpr"]))


def test_expected_calibration_error_worked_out_by_hand():
    ys = [0, 1, 0, 1, 0, 1, 0]
    rs = [0.125, 0.125, 0.5, 0.5, 0.75, 0.9375, 1.0]  # binary fractions: every mean below is exact
    # bin [0.1, 0.2): 2 texts, mean prediction 1/8, unsafe rate 1/2   -> |1/2 - 1/8|   = 3/8
    # bin [0.5, 0.6): 2 texts, mean 1/2 (0.5 opens its bin), rate 1/2 -> 0
    # bin [0.7, 0.8): 1 text,  mean 3/4, rate 0                       -> 3/4
    # bin [0.9, 1.0]: 2 texts (1.0 is in the last bin), mean 31/32, rate 1/2 -> 15/32
    # ECE = 2/7 * 3/8 + 2/7 * 0 + 1/7 * 3/4 + 2/7 * 15/32 = (3/4 + 3/4 + 15/16) / 7 = 39/112
    assert metrics.expected_calibration_error(ys, rs) == pytest.approx(39 / 112, abs=1e-15)
    assert [(b["low"], b["high"], b["count"], b["mean_risk"], b["unsafe_rate"])
            for b in metrics.calibration_bins(ys, rs)] == [(0.1, 0.2, 2, 0.125, 0.5), (0.5, 0.6, 2, 0.5, 0.5),
                                                          (0.7, 0.8, 1, 0.75, 0.0), (0.9, 1.0, 2, 0.96875, 0.5)]
    # perfectly calibrated: in each bin, unsafe rate equals the prediction
    assert metrics.expected_calibration_error([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]) == 0.0
    assert metrics.expected_calibration_error([1, 1], [0.0, 0.0]) == 1.0


def _ece_by_definition(ys, rs, n_bins=10):
    """ECE from its definition, not from the code: for each bin [k/n, (k+1)/n) (the last one
    closed at 1.0), the texts whose prediction lies in it, weighted by their share of all texts,
    times |observed unsafe rate - mean prediction|."""
    total = 0.0
    for k in range(n_bins):
        members = [(y, r) for y, r in zip(ys, rs)
                   if k / n_bins <= r < (k + 1) / n_bins or (k == n_bins - 1 and r == 1.0)]
        if members:
            rate = sum(y for y, _ in members) / len(members)
            mean = sum(r for _, r in members) / len(members)
            total += len(members) / len(ys) * abs(rate - mean)
    return total


def test_expected_calibration_error_matches_its_definition_on_random_data():
    rng = random.Random(11)
    ys = [rng.randint(0, 1) for _ in range(500)]
    rs = [rng.random() ** 2 for _ in ys] + [1.0, 0.0]
    ys += [1, 0]
    assert metrics.expected_calibration_error(ys, rs) == pytest.approx(_ece_by_definition(ys, rs), abs=1e-12)
    assert _ece_by_definition([0, 1, 0, 1, 0, 1, 0], [0.125, 0.125, 0.5, 0.5, 0.75, 0.9375, 1.0]) == 39 / 112


@pytest.mark.parametrize("n_bins", [10, 49, 100])
def test_a_prediction_at_a_bin_edge_is_in_the_bin_whose_bounds_hold_it(n_bins):
    """The bin came from int(r * n), which can round across an edge: 0.8999999999999999 went to
    [0.9, 1.0], and 0.57 (100 bins) to [0.56, 0.57)."""
    for k in range(1, n_bins):
        edge = k / n_bins
        for r in (math.nextafter(edge, 0), edge, math.nextafter(edge, 1)):
            [b] = metrics.calibration_bins([1], [r], n_bins)
            assert b["low"] <= r < b["high"], (r, b)
    assert metrics.calibration_bins([1], [math.nextafter(0.9, 0)])[0]["low"] == 0.8
    assert metrics.calibration_bins([1], [0.57], 100)[0]["low"] == 0.57


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_a_score_that_is_not_finite_is_refused_as_the_message_says(bad):
    """The check said "metrics need finite scores" but refused only NaN: inf ranked as a score."""
    message = rf"score {bad!r} \(position 1\) is not a finite number; metrics need finite scores \(no NaN or inf\)\."
    for call in (lambda: metrics.roc_auc([0, 1], [0.5, bad]), lambda: metrics.roc_points([0, 1], [0.5, bad]),
                 lambda: metrics.confusion_by_safety([0, 1], [0.5, bad], 0.5),
                 lambda: metrics.expected_calibration_error([0, 1], [0.5, bad])):
        with pytest.raises(ValueError, match=message):
            call()


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        metrics.roc_auc([0, 1], [0.5])
    with pytest.raises(ValueError):
        metrics.roc_auc([0, 1], [0.5, math.nan])
    with pytest.raises(ValueError):
        metrics.expected_calibration_error([0, 1], [0.5, 1.5])
