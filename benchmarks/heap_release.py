"""RoBERTa memory with and without the heap release at load (glibc ``malloc_trim`` after the
tokenizer and the session are loaded), on the same bundle and texts, each start a fresh process.

    flock /tmp/alignmenter-bench.lock python benchmarks/heap_release.py [--bundle DIR]
        [--data ../shared/data] [--starts 3] [--result heap_release]

Per start: RSS after load, peak RSS (``ru_maxrss``) after scoring 300 short chat turns (at most
30 words) or 300 texts of every length, and ms/text. "without" replaces the release by a no-op
before the tier loads. The bundle defaults to the real-shape int8 bundle of
benchmarks/roberta_real_shape.py. Results: benchmarks/results/NAME.json and .md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_model, load_texts, peak_rss_mb, rss_mb, write_report  # noqa: E402

DEFAULT_BUNDLE = ROOT / "benchmarks" / "work" / "roberta" / "bundle-int8"
MIXES = ("short", "all")
MODES = ("with", "without")


def _texts(data: str, mix: str) -> list[str]:
    if mix == "all":
        return load_texts(data, 300, 0)[0]
    return [t for t in load_texts(data, None, 0)[0] if len(t.split()) <= 30][:300]


def worker(bundle: str, data: str, mix: str, mode: str) -> None:
    texts = _texts(data, mix)
    if mode == "without":
        import alignmenter_edge.tiers.roberta_onnx as roberta

        roberta.release_free_heap = lambda: False
    from alignmenter_edge import load_classifier

    with load_classifier(bundle, threads=2) as clf:
        after_load = rss_mb()
        start = time.perf_counter()
        clf.score_batch(texts)
        seconds = time.perf_counter() - start
    print(json.dumps({"rss_after_load_mb": after_load, "peak_rss_mb": peak_rss_mb(),
                      "ms_per_text": 1000 * seconds / len(texts)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--starts", type=int, default=3, help="fresh processes per mode and mix")
    parser.add_argument("--result", default="heap_release", help="results/NAME.json and .md")
    parser.add_argument("--worker", nargs=2, metavar=("MIX", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.bundle, args.data, *args.worker)
        return
    runs: dict[str, list[dict]] = {f"{mix}/{mode}": [] for mix in MIXES for mode in MODES}
    for _ in range(args.starts):
        for mix in MIXES:
            for mode in MODES:  # alternating, so drift on a shared machine hits both modes
                out = subprocess.run([sys.executable, __file__, "--bundle", args.bundle, "--data", args.data,
                                      "--worker", mix, mode], check=True, capture_output=True, text=True)
                runs[f"{mix}/{mode}"].append(json.loads(out.stdout.strip().splitlines()[-1]))
    medians = {key: {field: statistics.median(r[field] for r in rows) for field in rows[0]}
               for key, rows in runs.items()}
    report = {"benchmark": "roberta-onnx heap release at load", "cpu": cpu_model(), "bundle": args.bundle,
              "starts": args.starts, "medians": medians, "runs": runs,
              "command": "python benchmarks/heap_release.py " + " ".join(sys.argv[1:])}
    lines = [f"RoBERTa int8 heap release at load, {args.starts} fresh processes per row (medians), "
             f"2 threads, {cpu_model()}, bundle {Path(args.bundle).name}.", "",
             "| texts | heap release | RSS after load (MB) | peak RSS (MB) | ms/text |", "|---|---|---:|---:|---:|"]
    for mix in MIXES:
        for mode in MODES:
            m = medians[f"{mix}/{mode}"]
            label = "300 short turns (≤ 30 words)" if mix == "short" else "300 texts, every length"
            lines.append(f"| {label} | {mode} | {m['rss_after_load_mb']:.1f} | {m['peak_rss_mb']:.1f} | "
                         f"{m['ms_per_text']:.2f} |")
    write_report(args.result, report, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
