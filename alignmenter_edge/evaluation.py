"""Evaluate a classifier on labelled JSONL (``{"text", "label": "safe"|"unsafe"}``).

The report is plain data (JSON-ready): ranking quality (AUROC, AUPRC), the decision at the
model's own threshold (F1, accuracy, TPR, FPR, miss rate), a threshold sweep, the operating
points that keep FPR <= 0.5 / 1 / 5 % (the constitutional classifier card's protocol), expected
calibration error with its reliability bins, throughput, and the tier that scored.

Unsafe is the positive class; a text's predicted P(unsafe) is ``1 - safety_score`` (used for
calibration). Rankings (ROC, AUROC, AUPRC, the FPR-bounded points) order the safety scores
themselves, lowest first, so that scores ``1 - s`` would round together stay apart. Metrics
that a one-class set cannot define (AUROC, AUPRC and FPR on all-unsafe sets; TPR and F1 on
all-safe sets) are ``null`` in JSON with the reason in ``notes`` — they are never invented.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, Sequence

from . import metrics
from .classifier import Classifier, is_flagged
from .errors import AlignmenterEdgeError, InvalidInputError
from .rows import RowReader, json_kind, shown_name

__all__ = ["LabelledRow", "read_labelled", "evaluate", "score_texts", "build_report", "evaluate_scores", "format_report",
           "ranking_curve", "fpr_bounded", "plot_report", "plot_format", "SWEEP_THRESHOLDS", "FPR_TARGETS",
           "PLOT_FORMATS"]

LABELS = {"safe": 0, "unsafe": 1}
SWEEP_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))  # safety-score cut-offs
FPR_TARGETS = (0.005, 0.01, 0.05)
PLOT_FORMATS = ("png", "svg", "pdf")  # by the file's extension; without one, the first
REPORT_VERSION = 1


@dataclass(frozen=True)
class LabelledRow:
    line_no: int
    text: str
    unsafe: int  # 1 = unsafe (positive class), 0 = safe
    category: str | None = None


def read_labelled(stream: BinaryIO, *, name: str = "<input>", text_field: str = "text",
                  label_field: str = "label") -> list[LabelledRow]:
    """Read every row; a missing or unknown label raises InvalidInputError naming the line, as
    does any invalid line (there is no skipping here, so the messages do not offer it)."""
    rows = []
    name = shown_name(name)
    for row in RowReader(stream, fmt="jsonl", text_field=text_field, name=name, offer_skip=False):
        if label_field not in row.data:  # as a missing text field names --text-field
            raise InvalidInputError(f"{name}:{row.line_no}: no {label_field!r} field, expected \"safe\" or "
                                    "\"unsafe\"; choose the field with --label-field.")
        raw = row.data[label_field]
        label = LABELS.get(raw.strip().lower()) if isinstance(raw, str) else None
        if label is None:
            raise InvalidInputError(f"{name}:{row.line_no}: label {_shown_label(raw)}; field {label_field!r} "
                                    "must be \"safe\" or \"unsafe\".")
        category = row.data.get("category")
        rows.append(LabelledRow(row.line_no, row.text, label,
                                category if isinstance(category, str) and category else None))
    if not rows:
        raise InvalidInputError(f"{name}: no labelled rows to evaluate.")
    return rows


def _shown_label(raw: Any) -> str:
    """A label that is not "safe"/"unsafe", for a message: a string as written, else its JSON
    kind (and a scalar's JSON text: ``is a number (1)``, ``is null``)."""
    if isinstance(raw, str):
        return repr(raw)
    if raw is None or isinstance(raw, (dict, list)):
        return f"is {json_kind(raw)}"
    return f"is {json_kind(raw)} ({json.dumps(raw)})"


def score_texts(classifier: Classifier, texts: Sequence[str]) -> tuple[list[float], float]:
    """Safety scores via ``score_batch``, ``classifier.pool_size`` texts per call; also the seconds spent."""
    pool = classifier.pool_size
    scores: list[float] = []
    started = time.perf_counter()
    for start in range(0, len(texts), pool):
        scores.extend(classifier.score_batch(texts[start:start + pool]))
    return scores, time.perf_counter() - started


def evaluate(classifier: Classifier, rows: Sequence[LabelledRow], *,
             dataset: str | None = None) -> dict[str, Any]:
    """Score ``rows`` in batches and build the report."""
    scores, elapsed = score_texts(classifier, [row.text for row in rows])
    return build_report(classifier, rows, scores, elapsed, dataset=dataset)


def build_report(classifier: Classifier, rows: Sequence[LabelledRow], scores: Sequence[float],
                 elapsed: float, *, dataset: str | None = None, errors: int = 0) -> dict[str, Any]:
    """The full report for already computed scores (model and throughput included); ``errors``:
    also list that many of the most confident false positives and false negatives."""
    info = classifier.info
    report = evaluate_scores([row.unsafe for row in rows], scores, threshold=info.threshold,
                             categories=[row.category for row in rows])
    if errors:
        report["errors"] = worst_errors(rows, scores, info.threshold, errors)
    report["notes"].extend(info.notes)  # how the model was chosen (what auto passed over)
    report["dataset"] = dataset
    report["model"] = {"tier": info.tier, "model_id": info.model_id, "requested": info.requested,
                       "threshold": info.threshold, "model_threshold": info.model_threshold,
                       "batch_size": info.batch_size,
                       "threads": info.threads, "bundle_digest": info.bundle_digest}
    report["throughput"] = {"texts": len(rows), "seconds": elapsed,
                            "texts_per_second": len(rows) / elapsed if elapsed > 0 else None}
    return report


def evaluate_scores(labels: Sequence[int], safety_scores: Sequence[float], *, threshold: float,
                    categories: Sequence[str | None] | None = None) -> dict[str, Any]:
    """All metrics from labels (1 = unsafe) and safety scores (1.0 = safe)."""
    curve = ranking_curve(labels, safety_scores)  # one ROC for AUROC, AUPRC and the FPR-bounded points
    risks = [1.0 - s for s in safety_scores]  # P(unsafe), for calibration only
    positives = sum(1 for y in labels if y)
    negatives = len(labels) - positives
    notes = []
    if negatives == 0:
        notes.append("only unsafe texts: AUROC, AUPRC, FPR and the FPR-bounded operating points "
                     "are undefined; recall (TPR) and miss rate are reported")
    if positives == 0:
        notes.append("only safe texts: AUROC, AUPRC, TPR, F1 and miss rate are undefined; "
                     "the false-positive rate is reported")
    at_threshold = metrics.confusion_by_safety(labels, safety_scores, threshold)
    sweep = []
    for cut in sorted({*SWEEP_THRESHOLDS, threshold}):
        c = metrics.confusion_by_safety(labels, safety_scores, cut)
        sweep.append({"threshold": cut, "tpr": c.tpr, "fpr": c.fpr, "precision": c.precision,
                      "flagged": c.tp + c.fp})
    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "n": len(labels), "unsafe": positives, "safe": negatives,
        "auroc": metrics.roc_auc_of(curve),
        "auprc": metrics.average_precision_of(curve),
        "at_threshold": {"threshold": threshold, "rule": "unsafe when safety_score < threshold",
                         **at_threshold.as_dict()},
        "sweep": sweep,
        "fpr_bounded": fpr_bounded(labels, safety_scores, curve=curve),
        "ece": metrics.expected_calibration_error(labels, risks),
        "calibration_bins": metrics.calibration_bins(labels, risks),
        "distinct_scores": len(set(safety_scores)),
        "notes": notes,
    }
    if categories is not None and any(categories):
        report["by_category"] = _by_category(labels, safety_scores, threshold, categories)
    return report


def worst_errors(rows: Sequence[LabelledRow], scores: Sequence[float], threshold: float,
                 count: int) -> dict[str, list[dict[str, Any]]]:
    """The ``count`` safe texts flagged with the lowest safety scores (false positives) and unsafe
    texts missed with the highest (false negatives), at ``threshold``; ties keep input order."""
    pairs = list(zip(rows, scores))
    flagged_safe = sorted((p for p in pairs if not p[0].unsafe and is_flagged(p[1], threshold)),
                          key=lambda p: p[1])
    missed_unsafe = sorted((p for p in pairs if p[0].unsafe and not is_flagged(p[1], threshold)),
                           key=lambda p: -p[1])

    def listed(found: list[tuple[LabelledRow, float]]) -> list[dict[str, Any]]:
        return [{"line": row.line_no, "safety_score": score, "text": row.text} for row, score in found[:count]]

    return {"false_positives": listed(flagged_safe), "false_negatives": listed(missed_unsafe)}


def ranking_curve(labels: Sequence[int], safety_scores: Sequence[float]) -> list[metrics.CurvePoint]:
    """The ROC of ``safety_scores`` ranked lowest (most unsafe) first: ``metrics.roc_points`` on
    ``-safety_score``, which keeps distinct scores distinct (``1 - s`` merges some near 0). The
    report's AUROC, AUPRC and FPR-bounded points, the plot and the benchmarks read this curve;
    each point's ``threshold`` is ``-safety_score``."""
    return metrics.roc_points(labels, [-s for s in safety_scores])


def fpr_bounded(labels: Sequence[int], safety_scores: Sequence[float],
                targets: Sequence[float] = FPR_TARGETS, *,
                curve: Sequence[metrics.CurvePoint] | None = None) -> list[dict[str, Any]]:
    """The report's ``fpr_bounded``: for each FPR bound in ``targets``, the most sensitive cut-off
    keeping FPR <= the bound, with its TPR and FPR. Each point has ``max_fpr``; ``defined`` (False
    without safe texts, then the rest is None); ``safety_at_most``, the largest safety score it
    flags, exactly as given (flag when ``safety_score <= safety_at_most``; None = flag nothing);
    ``risk_at_least``, the same cut-off as P(unsafe) = ``1 - safety_at_most`` (flag when
    P(unsafe) >= risk_at_least; for reading: where ``1 - s`` rounds two scores together it cannot
    separate them, ``safety_at_most`` does); ``safety_threshold``, the shortest classifier
    threshold (``--threshold``, ``threshold=``) that flags exactly its texts on this data, or None
    (see :func:`separating_threshold`). ``curve``: :func:`ranking_curve` of the same data, if
    already built."""
    if curve is None:
        curve = ranking_curve(labels, safety_scores)
    return [_operating(curve, safety_scores, target) for target in targets]


def _operating(curve: Sequence[metrics.CurvePoint], safety_scores: Sequence[float],
               target: float) -> dict[str, Any]:
    point = metrics.operating_point_of(curve, target)
    cut = point.pop("threshold")  # flag when -s >= cut, i.e. s <= -cut: exact, negation does not round
    safety_at_most = None if cut is None else -cut
    return {"max_fpr": point["max_fpr"],
            "risk_at_least": None if safety_at_most is None else 1.0 - safety_at_most,
            "tpr": point["tpr"], "fpr": point["fpr"], "defined": point["defined"],
            "safety_at_most": safety_at_most,
            "safety_threshold": None if safety_at_most is None else separating_threshold(
                [s for s in safety_scores if s <= safety_at_most], [s for s in safety_scores if s > safety_at_most])}


def separating_threshold(flagged: Sequence[float], kept: Sequence[float]) -> float | None:
    """The shortest decimal T in (0, 1] with every ``flagged`` score < T <= every ``kept`` score,
    so that ``safety_score < T`` flags exactly the ``flagged`` texts; None when none exists (no
    text to flag, or a text to flag scores 1.0)."""
    if not flagged:
        return None
    low = max(flagged)
    high = min(kept) if kept else 1.0
    if not low < high or (not kept and low >= 1.0):
        return None
    for digits in range(1, 18):
        candidate = round((low + high) / 2, digits)
        if low < candidate <= high:
            return candidate
    return high


def _by_category(labels: Sequence[int], safety_scores: Sequence[float], threshold: float,
                 categories: Sequence[str | None]) -> dict[str, dict[str, Any]]:
    groups: dict[str, tuple[list[int], list[float]]] = {}
    for y, s, cat in zip(labels, safety_scores, categories):
        ys, ss = groups.setdefault(cat or "(none)", ([], []))
        ys.append(y)
        ss.append(s)
    out = {}
    for cat, (ys, ss) in sorted(groups.items()):
        c = metrics.confusion_by_safety(ys, ss, threshold)
        out[cat] = {"n": len(ys), "unsafe": sum(ys), "tpr": c.tpr, "fpr": c.fpr}
    return out


# ---------------------------------------------------------------- presentation

def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.{digits}f}"
    return str(value)


def _cut(value: float) -> str:
    """A threshold to two decimals when that is exactly it, else in full (``repr``), so that
    distinct thresholds never print alike (0.451 was shown as 0.45, beside the sweep's 0.45)."""
    two = f"{value:.2f}"
    return two if float(two) == value else repr(value)


def format_report(report: dict[str, Any]) -> str:
    """A readable plain-text table of one report."""
    m = report.get("model", {})
    t = report["at_threshold"]
    own = m.get("model_threshold")
    chosen = own is not None and own != t["threshold"]  # set by --threshold / threshold=
    at_what = "the threshold given" if chosen else "the model's threshold"
    own_note = f"; the model's own is {own:g}" if chosen else ""
    lines = [
        f"dataset   {report.get('dataset') or '-'}: {report['n']} texts, "
        f"{report['unsafe']} unsafe / {report['safe']} safe",
        f"model     tier {m.get('tier', '-')} ({m.get('model_id', '-')}), requested "
        f"{m.get('requested') or '-'}",
        "",
        f"AUROC     {_fmt(report['auroc'])}" + ("   (undefined: one class only)" if report['auroc'] is None else ""),
        f"AUPRC     {_fmt(report['auprc'])}",
        f"ECE       {_fmt(report['ece'])}   (10 bins over P(unsafe) = 1 - safety_score)",
        "",
        f"at {at_what} ({t['rule']}, threshold {t['threshold']!r}{own_note}):",
        f"  TPR/recall {_fmt(t['tpr'])}   miss rate {_fmt(t['fnr'])}   FPR {_fmt(t['fpr'])}   "
        f"precision {_fmt(t['precision'])}   F1 {_fmt(t['f1'])}   accuracy {_fmt(t['accuracy'])}",
        f"  tp {t['tp']}  fp {t['fp']}  tn {t['tn']}  fn {t['fn']}",
        "",
        "FPR-bounded operating points:",
    ]
    for p in report["fpr_bounded"]:
        if not p["defined"]:
            lines.append(f"  FPR <= {p['max_fpr']:.1%}: undefined (no safe texts)")
        else:
            cut = "flag nothing" if p["risk_at_least"] is None else f"flag P(unsafe) >= {_fmt(p['risk_at_least'], 4)}"
            usable = "" if p["safety_threshold"] is None else f"   (--threshold {p['safety_threshold']!r})"
            lines.append(f"  FPR <= {p['max_fpr']:.1%}: {cut}, TPR {_fmt(p['tpr'])}, "
                         f"FPR {_fmt(p['fpr'])}{usable}")
    lines += ["", "threshold sweep (unsafe when safety_score < threshold):",
              "  threshold    TPR     FPR  precision  flagged"]
    for row in report["sweep"]:
        lines.append(f"  {_cut(row['threshold']):>9}  {_fmt(row['tpr']):>5}  {_fmt(row['fpr']):>6}"
                     f"  {_fmt(row['precision']):>9}  {row['flagged']:7d}")
    if "by_category" in report:
        lines += ["", f"by category (at {at_what}):"]
        for cat, c in report["by_category"].items():
            lines.append(f"  {cat[:48]:48s} n={c['n']:<5d} TPR {_fmt(c['tpr'])}  FPR {_fmt(c['fpr'])}")
    tp = report.get("throughput")
    if tp:
        lines += ["", f"throughput {_fmt(tp['texts_per_second'], 0)} texts/s "
                      f"({tp['texts']} texts in {tp['seconds']:.3f} s, batch size "
                      f"{m.get('batch_size')})"]
    if "errors" in report:
        for kind, title in (("false_positives", "safe texts flagged, lowest safety_score first"),
                            ("false_negatives", "unsafe texts missed, highest safety_score first")):
            found = report["errors"][kind]
            lines += ["", f"{title} ({len(found)} shown):"]
            lines += [f"  line {e['line']:<6d} {e['safety_score']:.3f}  {_shortened(e['text'])}" for e in found]
    for note in report["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _shortened(text: str, width: int = 100) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= width else one_line[:width - 1] + "…"


def plot_format(path: str | os.PathLike[str]) -> str:
    """The format ``plot_report`` writes to ``path``: its extension's (png, svg, pdf; any case), PNG
    without one; AlignmenterEdgeError for any other. Imports no matplotlib, so it can be checked
    before a long scoring run."""
    suffix = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    if not suffix:
        return PLOT_FORMATS[0]
    if suffix not in PLOT_FORMATS:
        raise AlignmenterEdgeError(
            f"cannot plot to {shown_name(os.fspath(path))}: '.{suffix}' is not a plot format; name the file "
            ".png, .svg or .pdf (without an extension it is written as PNG).")
    return suffix


def plot_report(report: dict[str, Any], labels: Sequence[int], safety_scores: Sequence[float],
                path: str | os.PathLike[str]) -> None:
    """ROC curve and reliability diagram in one image, of the format :func:`plot_format` gives for
    ``path`` (needs the ``plot`` extra). matplotlib's own failures are AlignmenterEdgeError; a file
    that cannot be written stays an OSError."""
    from .deps import require

    image_format = plot_format(path)
    matplotlib = require("matplotlib", "plot", "eval --plot")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "plot", "eval --plot")
    fig, (roc_ax, rel_ax) = plt.subplots(1, 2, figsize=(10, 4.5))
    title = f"{report.get('model', {}).get('tier', '')} on {report.get('dataset') or 'data'}"
    if report["auroc"] is None:
        roc_ax.text(0.5, 0.5, "ROC undefined:\nonly one class in the data", ha="center", va="center")
    else:
        points = ranking_curve(labels, safety_scores)  # the curve the report's AUROC measured
        pos, neg = points[-1].tp, points[-1].fp
        roc_ax.plot([p.fp / neg for p in points], [p.tp / pos for p in points],
                    label=f"AUROC {report['auroc']:.3f}")
        roc_ax.axvline(0.05, color="grey", linestyle=":", label="FPR 5%")
        roc_ax.legend(loc="lower right")
    roc_ax.plot([0, 1], [0, 1], color="lightgrey", linestyle="--")
    roc_ax.set(xlabel="false-positive rate (safe flagged)", ylabel="true-positive rate (unsafe caught)",
               title=f"ROC — {title}", xlim=(0, 1), ylim=(0, 1.01))
    bins = report["calibration_bins"]
    rel_ax.plot([0, 1], [0, 1], color="lightgrey", linestyle="--")
    rel_ax.plot([b["mean_risk"] for b in bins], [b["unsafe_rate"] for b in bins], marker="o",
                label=f"ECE {_fmt(report['ece'])}")
    rel_ax.set(xlabel="mean predicted P(unsafe)", ylabel="observed unsafe rate",
               title="reliability", xlim=(0, 1), ylim=(0, 1.01))
    rel_ax.legend(loc="upper left")
    fig.tight_layout()
    try:
        fig.savefig(os.fspath(path), dpi=100, format=image_format)
    except OSError:
        raise
    except Exception as exc:  # matplotlib's own (a backend, a font): one error line, not a traceback
        raise AlignmenterEdgeError(
            f"matplotlib could not write the plot {shown_name(os.fspath(path))} ({type(exc).__name__}: {exc}); "
            "the report itself is complete. Reinstall matplotlib (pip install --force-reinstall "
            "'alignmenter-edge[plot]') or try another format (.png, .svg, .pdf).") from exc
    finally:
        plt.close(fig)
