"""Evaluate every tier that runs on a bare checkout (heuristic, lexicon, none) on every shared data set.

Usage:  python benchmarks/eval_tiers.py [--data DIR] [--tiers heuristic,lexicon,none] [--out DIR]

DIR defaults to ../shared/data next to the repository (the data files are never committed).
Writes benchmarks/results/eval_tiers.json (full reports) and eval_tiers.md (the README table).
Timing runs share the machine: wrap in `flock /tmp/alignmenter-bench.lock ...`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alignmenter_edge import load_classifier  # noqa: E402
from alignmenter_edge.evaluation import evaluate, read_labelled  # noqa: E402

REPEATS = 5  # throughput: best of REPEATS scoring passes over each set


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--tiers", default="heuristic,lexicon,none")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    files = sorted(args.data.glob("*.jsonl"))
    if not files:
        print(f"no *.jsonl under {args.data}", file=sys.stderr)
        return 1
    reports = []
    for path in files:
        with path.open("rb") as stream:
            rows = read_labelled(stream, name=path.name)
        for tier in args.tiers.split(","):
            with load_classifier(tier) as classifier:
                best = None
                for _ in range(REPEATS):
                    report = evaluate(classifier, rows, dataset=path.stem)
                    if best is None or report["throughput"]["seconds"] < best["throughput"]["seconds"]:
                        best = report
                reports.append(best)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(),
            "created": time.strftime("%Y-%m-%d"), "repeats": REPEATS,
            "data": [p.name for p in files]}
    matched_rows = matched_points(files, reports)
    matched = matched_table(matched_rows)
    (args.out / "eval_tiers.json").write_text(
        json.dumps({"meta": meta, "reports": reports, "matched": matched_rows}, indent=2,
                   allow_nan=False) + "\n",
        encoding="utf-8")
    table = markdown_table(reports) + "\n\n" + matched
    (args.out / "eval_tiers.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return 0


def matched_points(files: list[Path], reports: list[dict]) -> list[dict]:
    """The lexicon at the heuristic's own false-positive rate (same FPR, compare TPR)."""
    from alignmenter_edge.evaluation import fpr_bounded, score_texts

    rows_out = []
    by_key = {(r["dataset"], r["model"]["tier"]): r for r in reports}
    for path in files:
        heur = by_key.get((path.stem, "heuristic"))
        if heur is None or (path.stem, "lexicon") not in by_key or heur["at_threshold"]["fpr"] is None \
                or not heur["unsafe"]:
            continue
        with path.open("rb") as stream:
            rows = read_labelled(stream, name=path.name)
        with load_classifier("lexicon") as lexicon:
            scores, _ = score_texts(lexicon, [row.text for row in rows])
        fpr = heur["at_threshold"]["fpr"]
        [point] = fpr_bounded([row.unsafe for row in rows], scores, [fpr])  # as the report ranks: by -s
        rows_out.append({"dataset": path.stem, "heuristic_fpr": fpr,
                         "heuristic_tpr": heur["at_threshold"]["tpr"],
                         "lexicon_tpr": point["tpr"], "lexicon_fpr": point["fpr"],
                         "lexicon_threshold": point["risk_at_least"]})
    return rows_out


def matched_table(rows: list[dict]) -> str:
    lines = ["| data set | heuristic at its threshold: TPR / FPR | lexicon at FPR ≤ the heuristic's: TPR / FPR (P(unsafe) ≥ t) |",
             "|---|---|---|"]
    for r in rows:
        cut = "flag nothing" if r["lexicon_threshold"] is None else f"t={r['lexicon_threshold']:.3f}"
        lines.append(f"| {r['dataset']} | {_f(r['heuristic_tpr'])} / {_f(r['heuristic_fpr'])} | "
                     f"{_f(r['lexicon_tpr'])} / {_f(r['lexicon_fpr'])} ({cut}) |")
    return "\n".join(lines)


def _f(value: object, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(reports: list[dict]) -> str:
    lines = [
        "| data set | n (unsafe/safe) | tier | AUROC | AUPRC | threshold | TPR (recall) | miss rate | "
        "FPR | F1 | accuracy | TPR @ FPR≤5% (P(unsafe) ≥ t) | ECE | texts/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        t = r["at_threshold"]
        op = next(p for p in r["fpr_bounded"] if p["max_fpr"] == 0.05)
        if not op["defined"]:
            at5 = "n/a (no safe texts)"
        else:
            cut = "flag nothing" if op["risk_at_least"] is None else f"t={op['risk_at_least']:.3f}"
            at5 = f"{_f(op['tpr'])} ({cut}, FPR {_f(op['fpr'])})"
        auroc = _f(r["auroc"]) if r["auroc"] is not None else "undefined (one class)"
        lines.append(
            f"| {r['dataset']} | {r['n']} ({r['unsafe']}/{r['safe']}) | {r['model']['tier']} | "
            f"{auroc} | {_f(r['auprc'])} | {r['model']['threshold']} | {_f(t['tpr'])} | "
            f"{_f(t['fnr'])} | {_f(t['fpr'])} | {_f(t['f1'])} | {_f(t['accuracy'])} | {at5} | "
            f"{_f(r['ece'])} | {r['throughput']['texts_per_second']:,.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
