"""RoBERTa memory with and without the heap release at load (glibc ``malloc_trim`` after the
tokenizer and the session are loaded), on the same bundle and texts, each start a fresh process.

    flock /tmp/alignmenter-bench.lock python benchmarks/heap_release.py [--bundle DIR]
        [--data /work/shared/data] [--starts 3] [--result heap_release] [--note TEXT]

Per start: RSS after load, peak RSS (``ru_maxrss``) after scoring, both in MiB, and ms/text. The
texts are benchmarks/roberta_speed.py's (``roberta_real_shape.bench_texts``): the 300 texts held
out from the tokenizer's training, and those of them of at most 30 words (short chat turns).
Results before that (``heap_release_zen4``) scored other samples: the first 300 texts of a seed-0
shuffle, and the first 300 of at most 30 words of it (261 and 262 of them in the tokenizer's
training corpus).
"without" replaces the release by a no-op before the tier loads. The bundle defaults to the
real-shape int8 bundle of benchmarks/roberta_real_shape.py. Results: benchmarks/results/NAME.json
and .md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import add_note_argument, cpu_model, peak_rss_mib, rss_mib, run_child_json, write_report  # noqa: E402
from benchmarks.roberta_real_shape import DEFAULT_DATA, bench_texts  # noqa: E402

DEFAULT_BUNDLE = ROOT / "benchmarks" / "work" / "roberta" / "bundle-int8"
MIXES = {"short": 30, "all": None}  # max words
MODES = ("with", "without")


def worker(bundle: str, data: str, mix: str, mode: str) -> None:
    texts, _ = bench_texts(Path(data), MIXES[mix])
    if mode == "without":
        import alignmenter_edge.tiers.roberta_onnx as roberta

        roberta.release_free_heap = lambda: False
    from alignmenter_edge import load_classifier

    with load_classifier(bundle, threads=2) as clf:
        after_load = rss_mib()
        start = time.perf_counter()
        clf.score_batch(texts)
        seconds = time.perf_counter() - start
    print(json.dumps({"rss_after_load_mib": after_load, "peak_rss_mib": peak_rss_mib(),
                      "ms_per_text": 1000 * seconds / len(texts)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--starts", type=int, default=3, help="fresh processes per mode and mix")
    parser.add_argument("--result", default="heap_release", help="results/NAME.json and .md")
    add_note_argument(parser)
    parser.add_argument("--worker", nargs=2, metavar=("MIX", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.bundle, args.data, *args.worker)
        return
    runs: dict[str, list[dict]] = {f"{mix}/{mode}": [] for mix in MIXES for mode in MODES}
    for _ in range(args.starts):
        for mix in MIXES:
            for mode in MODES:  # alternating, so drift on a shared machine hits both modes
                runs[f"{mix}/{mode}"].append(run_child_json([sys.executable, __file__, "--bundle", args.bundle,
                                                             "--data", args.data, "--worker", mix, mode]))
    medians = {key: {field: statistics.median(r[field] for r in rows) for field in rows[0]}
               for key, rows in runs.items()}
    sources = {mix: bench_texts(Path(args.data), words)[1] for mix, words in MIXES.items()}
    report = {"benchmark": "roberta-onnx heap release at load", "bundle": args.bundle, "texts": sources,
              "starts": args.starts, "units": "MiB (2**20 bytes)", "medians": medians, "runs": runs}
    lines = [f"RoBERTa int8 heap release at load, {args.starts} fresh processes per row (medians), "
             f"2 threads, {cpu_model()}, bundle {Path(args.bundle).name}. Texts: {sources['all']}; short: "
             f"{sources['short']}.", "",
             "| texts | heap release | RSS after load (MiB) | peak RSS (MiB) | ms/text |", "|---|---|---:|---:|---:|"]
    for mix in MIXES:
        for mode in MODES:
            m = medians[f"{mix}/{mode}"]
            label = "short turns (≤ 30 words)" if mix == "short" else "every length"
            lines.append(f"| {label} | {mode} | {m['rss_after_load_mib']:.1f} | {m['peak_rss_mib']:.1f} | "
                         f"{m['ms_per_text']:.2f} |")
    write_report(args.result, report, "\n".join(lines) + "\n", note=args.note)


if __name__ == "__main__":
    main()
