"""How the lexicon's default threshold is chosen, on development halves, and checked on held-out halves.

Usage:  python benchmarks/lexicon_threshold.py [--data DIR] [--dev-only] [--result NAME]

Every row of every ../shared/data set goes to a fixed half by its id: ``dev`` when the first byte
of sha256(id) is even, else ``held-out``. The rule, applied to the dev halves only: the largest
threshold, rounded down to 0.01, at which the lexicon flags no larger share of each two-class set's
benign texts than alignmenter's heuristic flags at its own threshold (0.5). The held-out halves and
the full sets are then only measured. Writes benchmarks/results/lexicon_threshold.json and .md.
``--dev-only`` prints the rule's threshold and the dev halves alone and writes nothing: the view to
work from while changing the lexicon, so no held-out figure is seen before the round is done.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import RESULTS, write_result  # noqa: E402
from alignmenter_edge.metrics import roc_auc  # noqa: E402
from alignmenter_edge.tiers.heuristic import heuristic_score  # noqa: E402
from alignmenter_edge.tiers.lexicon import DEFAULT_THRESHOLD, lexicon_score  # noqa: E402

HEURISTIC_THRESHOLD = 0.5
HALVES = ("dev", "held-out")


def half_of(row_id: str) -> str:
    return HALVES[hashlib.sha256(row_id.encode("utf-8")).digest()[0] % 2]


def load(data: Path) -> dict[str, list[dict[str, Any]]]:
    sets = {}
    for path in sorted(data.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for row in rows:
            row["unsafe"] = row["label"] == "unsafe"
            row["lexicon"] = lexicon_score(row["text"])
            row["heuristic"] = heuristic_score(row["text"])
            row["half"] = half_of(row["id"])
        sets[path.stem] = rows
    return sets


def flagged(rows: list[dict[str, Any]], tier: str, threshold: float, unsafe: bool) -> int:
    return sum(row[tier] < threshold for row in rows if row["unsafe"] is unsafe)


def chosen_threshold(sets: dict[str, list[dict[str, Any]]]) -> float:
    """The rule, on the dev halves of the two-class sets."""
    dev = {name: [r for r in rows if r["half"] == "dev"] for name, rows in sets.items()}
    dev = {name: rows for name, rows in dev.items() if any(r["unsafe"] for r in rows)
           and not all(r["unsafe"] for r in rows)}
    allowed = {name: flagged(rows, "heuristic", HEURISTIC_THRESHOLD, False) for name, rows in dev.items()}
    candidates = sorted({r["lexicon"] for rows in dev.values() for r in rows} | {1.0})
    best = 0.0
    for cut in candidates:  # flags grow with the cut, so the last cut that fits is the largest
        if all(flagged(rows, "lexicon", cut, False) <= allowed[name] for name, rows in dev.items()):
            best = cut
    return math.floor(best * 100) / 100


def summary(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    labels = [r["unsafe"] for r in rows]
    out: dict[str, Any] = {"n": len(rows), "unsafe": sum(labels), "safe": len(rows) - sum(labels)}
    for tier, cut in (("heuristic", HEURISTIC_THRESHOLD), ("lexicon", threshold)):
        auc = roc_auc(labels, [1 - r[tier] for r in rows]) if 0 < sum(labels) < len(labels) else None
        out[tier] = {"threshold": cut, "auroc": auc,
                     "false_positives": flagged(rows, tier, cut, False),
                     "true_positives": flagged(rows, tier, cut, True)}
    return out


def against_all_benign(sets: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """AUROC of each set's unsafe texts against every benign text of all sets pooled: defined for the
    one-class sets too (their own AUROC is not)."""
    benign = [r for rows in sets.values() for r in rows if not r["unsafe"]]
    out = {}
    for name, rows in sets.items():
        unsafe = [r for r in rows if r["unsafe"]]
        labels = [True] * len(unsafe) + [False] * len(benign)
        out[name] = {tier: roc_auc(labels, [1 - r[tier] for r in unsafe + benign])
                     for tier in ("heuristic", "lexicon")}
    return out


def _row_cells(s: dict[str, Any], digits: int) -> str:
    """The n, AUROC, benign-flagged and unsafe-caught cells of one summary, heuristic / lexicon."""
    tiers = ("heuristic", "lexicon")
    auc = " / ".join("undefined" if s[t]["auroc"] is None else f"{s[t]['auroc']:.{digits}f}" for t in tiers)
    fp = " / ".join(f"{s[t]['false_positives']}" for t in tiers) if s["safe"] else "n/a"
    tp = " / ".join(f"{s[t]['true_positives']}" for t in tiers)
    return f"{s['n']} ({s['unsafe']}/{s['safe']}) | {auc} | {fp} | {tp} |"


def dev_table(sets: dict[str, list[dict[str, Any]]], threshold: float) -> str:
    lines = [f"Threshold by the rule on the dev halves: **{threshold}** (shipped default: {DEFAULT_THRESHOLD}).",
             "", "| set | dev n (unsafe/safe) | AUROC heuristic / lexicon | benign flagged: heuristic / lexicon "
             "| unsafe caught: heuristic / lexicon |", "|---|---|---|---|---|"]
    for name, rows in sets.items():
        dev = summary([r for r in rows if r["half"] == "dev"], DEFAULT_THRESHOLD)
        lines.append(f"| {name} | {_row_cells(dev, 4)}")
    return "\n".join(lines) + "\n"


def table(report: dict[str, Any]) -> str:
    lines = [f"Threshold by the rule on the dev halves: **{report['rule_threshold']}** "
             f"(shipped default: {report['shipped_threshold']}).", "",
             "| set | half | n (unsafe/safe) | AUROC heuristic / lexicon | benign flagged: heuristic / lexicon "
             "| unsafe caught: heuristic / lexicon |", "|---|---|---|---|---|---|"]
    for name, halves in report["sets"].items():
        for half, s in halves.items():
            lines.append(f"| {name} | {half} | {_row_cells(s, 3)}")
    pooled = report["pooled_benign"]
    lines += ["", f"All benign texts pooled ({pooled['safe']}): heuristic flags "
              f"{pooled['heuristic']['false_positives']}, lexicon {pooled['lexicon']['false_positives']}.",
              "", f"AUROC of each set's unsafe texts against all {pooled['safe']} benign texts pooled "
              "(full sets), heuristic / lexicon:", ""]
    lines += [f"- {name}: {aucs['heuristic']:.3f} / {aucs['lexicon']:.3f}"
              for name, aucs in report["auroc_vs_all_benign"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--result", default="lexicon_threshold",
                        help="results file name (benchmarks/results/NAME.json and .md)")
    parser.add_argument("--dev-only", action="store_true",
                        help="print the rule and the dev halves only; write nothing")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data}: no such directory; pass --data DIR with the labelled *.jsonl sets.")
    sets = load(args.data)
    threshold = chosen_threshold(sets)
    if args.dev_only:
        print(dev_table(sets, threshold))
        return 0 if threshold == DEFAULT_THRESHOLD else 1
    report: dict[str, Any] = {"rule": __doc__.split("\n\n")[1].replace("\n", " "),
                              "rule_threshold": threshold, "shipped_threshold": DEFAULT_THRESHOLD,
                              "sets": {}}
    for name, rows in sets.items():
        report["sets"][name] = {half: summary([r for r in rows if r["half"] == half], DEFAULT_THRESHOLD)
                                for half in HALVES}
        report["sets"][name]["full"] = summary(rows, DEFAULT_THRESHOLD)
    report["pooled_benign"] = summary([r for rows in sets.values() for r in rows if not r["unsafe"]],
                                      DEFAULT_THRESHOLD)
    report["auroc_vs_all_benign"] = against_all_benign(sets)
    write_result(args.result, report)
    (RESULTS / f"{args.result}.md").write_text(table(report), encoding="utf-8")
    print(table(report))
    return 0 if threshold == DEFAULT_THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main())
