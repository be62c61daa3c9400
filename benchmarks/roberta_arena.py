"""ORT memory arena of the roberta-onnx tier: RSS of a long-running scorer, per arena mode.

    flock /tmp/alignmenter-bench.lock python benchmarks/roberta_arena.py [--bundle DIR] [--data DIR]
        [--note TEXT]

Each (arena, batch) pair runs in a fresh process: 64 short texts, then a burst of two ~12,000-character
texts (full 512-token windows), three rounds, then the short texts again; RSS after each phase and
the process's peak RSS (MiB). Batches: the tier's default (int8: one window per session call) and 8
windows per call. Bundle: the real-shape int8 bundle of benchmarks/roberta_real_shape.py.
Results: benchmarks/results/roberta_arena.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (add_note_argument, load_texts, peak_rss_mib, rss_mib,  # noqa: E402
                               run_child_json, write_report)

ARENAS = ("off", "on", "shrink")
BATCHES = (None, 8)
DEFAULT_BUNDLE = ROOT / "benchmarks" / "work" / "roberta" / "bundle-int8"


def burst(bundle: str, data: str, arena: str, batch: int | None, threads: int) -> dict:
    """One long-running scorer, in this process."""
    from alignmenter_edge import load_classifier

    texts, _ = load_texts(data)
    short, long_text = texts[:64], " ".join(texts)[:12000]
    clf = load_classifier(bundle, threads=threads, batch_size=batch, arena=arena)
    phases: dict[str, float] = {}
    start = time.perf_counter()
    for round_ in range(3):
        clf.score_batch(short)
        phases[f"short_{round_}_mib"] = round(rss_mib(), 1)
        clf.score_batch([long_text] * 2)
        phases[f"long_{round_}_mib"] = round(rss_mib(), 1)
    clf.score_batch(short)
    phases["short_after_mib"] = round(rss_mib(), 1)
    return {"arena": arena, "batch_size": clf.info.batch_size, "batch": "tier default" if batch is None else batch,
            **phases, "peak_rss_mib": round(peak_rss_mib(), 1), "seconds": round(time.perf_counter() - start, 1)}


def table(report: dict) -> str:
    lines = ["| arena | windows per call | after short | after 512-token burst | after short again | peak | seconds |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for run in report["runs"]:
        lines.append(f"| {run['arena']} | {run['batch_size']} ({run['batch']}) | {run['short_0_mib']:.0f} | "
                     f"{run['long_2_mib']:.0f} | {run['short_after_mib']:.0f} | {run['peak_rss_mib']:.0f} | "
                     f"{run['seconds']:.1f} |")
    return "RSS in MiB.\n\n" + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=2)
    add_note_argument(parser)
    parser.add_argument("--child", nargs=2, metavar=("ARENA", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        arena, batch = args.child
        print(json.dumps(burst(args.bundle, args.data, arena, None if batch == "-" else int(batch), args.threads)))
        return
    if not (Path(args.bundle) / "manifest.json").is_file():
        parser.error(f"{args.bundle}: no bundle; build it with `python benchmarks/roberta_real_shape.py` "
                     "or pass --bundle DIR.")
    runs = []
    for batch in BATCHES:
        for arena in ARENAS:
            print(f"arena {arena}, batch {batch or 'default'} ...", file=sys.stderr, flush=True)
            runs.append(run_child_json([sys.executable, __file__, "--child", arena, str(batch or "-"),
                                        "--bundle", args.bundle, "--data", args.data,
                                        "--threads", str(args.threads)]))
    report = {"bundle": args.bundle, "threads": args.threads, "units": "MiB", "runs": runs}
    write_report("roberta_arena", report, table(report), note=args.note)


if __name__ == "__main__":
    main()
