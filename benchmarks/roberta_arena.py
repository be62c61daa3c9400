"""ORT memory arena of the roberta-onnx tier: RSS of a long-running scorer, per arena mode.

    flock /tmp/alignmenter-bench.lock python benchmarks/roberta_arena.py [--bundle DIR] [--data DIR]

Each (arena, batch) pair runs in a fresh process: 64 short texts, then a burst of two ~12,000-character
texts (full 512-token windows), three rounds, then the short texts again; RSS after each phase and
the process's peak RSS. Batches: the tier's default (int8: one window per session call) and 8
windows per call. Bundle: the real-shape int8 bundle of benchmarks/roberta_real_shape.py.
Results: benchmarks/results/roberta_arena.json and .md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import RESULTS, load_texts, peak_rss_mb, rss_mb, write_result  # noqa: E402

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
        phases[f"short_{round_}_mb"] = round(rss_mb(), 1)
        clf.score_batch([long_text] * 2)
        phases[f"long_{round_}_mb"] = round(rss_mb(), 1)
    clf.score_batch(short)
    phases["short_after_mb"] = round(rss_mb(), 1)
    return {"arena": arena, "batch_size": clf.info.batch_size, "batch": "tier default" if batch is None else batch,
            **phases, "peak_rss_mb": round(peak_rss_mb(), 1), "seconds": round(time.perf_counter() - start, 1)}


def table(report: dict) -> str:
    lines = ["| arena | windows per call | after short | after 512-token burst | after short again | peak | seconds |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for run in report["runs"]:
        lines.append(f"| {run['arena']} | {run['batch_size']} ({run['batch']}) | {run['short_0_mb']:.0f} | "
                     f"{run['long_2_mb']:.0f} | {run['short_after_mb']:.0f} | {run['peak_rss_mb']:.0f} | "
                     f"{run['seconds']:.1f} |")
    return "RSS in MB.\n\n" + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=2)
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
            proc = subprocess.run([sys.executable, __file__, "--child", arena, str(batch or "-"),
                                   "--bundle", args.bundle, "--data", args.data, "--threads", str(args.threads)],
                                  capture_output=True, text=True, check=True)
            runs.append(json.loads(proc.stdout))
    report = {"bundle": args.bundle, "threads": args.threads, "runs": runs}
    write_result("roberta_arena", report)
    (RESULTS / "roberta_arena.md").write_text(table(report), encoding="utf-8")
    print(table(report))


if __name__ == "__main__":
    main()
