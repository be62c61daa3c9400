"""Where a RoBERTa bundle keeps its weights: in model.onnx (embedded, bundles exported before
2026-12-04) or beside it in model.onnx.data (ONNX external data, what the export writes now).

Same int8 model, same tensors: the embedded bundle is made here from the real-shape bundle of
benchmarks/roberta_real_shape.py (``onnx.load`` then save inline, manifest rewritten). Each row is
a fresh process running this tier's defaults (or ``--option K=V``): first score timed from just
before the process is spawned, then one untimed pass over the texts and the best of ``--passes``
timed passes, then peak RSS (``ru_maxrss``, MiB). The two layouts alternate, each starting half
the pairs, on both text mixes of roberta_speed.py (all lengths; at most 30 words).

    flock /tmp/alignmenter-bench.lock python benchmarks/roberta_weights_layout.py [--data DIR]
        [--pairs 4] [--passes 3] [--option parallel_runs=1] [--result NAME] [--note TEXT]

Results: benchmarks/results/NAME.json and .md (default ``roberta_weights_layout``).
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import (add_note_argument, mib_to_mb, peak_rss_mib, run_child_json,  # noqa: E402
                               run_child_timed, signal_ready, write_report)
from benchmarks.roberta_real_shape import DEFAULT_DATA, DEFAULT_WORK, bench_texts, build  # noqa: E402

LAYOUTS = ("embedded", "external")
MIXES = {"all lengths": None, "short turns": 30}


def embedded_copy(external: Path, target: Path) -> Path:
    """``external`` with its weights put back into model.onnx (rebuilt when ``external`` changed)."""
    import onnx

    from alignmenter_edge.bundle import write_bundle

    source_manifest = (external / "manifest.json").read_text(encoding="utf-8")
    stamp = target / "source-manifest.json"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == source_manifest:
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy(external / "tokenizer.json", target)
    onnx.save_model(onnx.load(str(external / "model.onnx")), str(target / "model.onnx"))
    fields = {k: v for k, v in json.loads(source_manifest).items()
              if k not in ("files", "format", "format_version")}
    fields["extra"] = {**fields["extra"], "onnx": {k: v for k, v in fields["extra"]["onnx"].items()
                                                     if k != "external_data"}}  # no such file here
    write_bundle(target, ["model.onnx", "tokenizer.json"], **fields)
    stamp.write_text(source_manifest, encoding="utf-8")
    return target


def worker(bundle: str, data: Path, max_words: int | None, passes: int, threads: int,
           options: dict[str, int]) -> None:
    from alignmenter_edge.registry import load_classifier

    texts, _ = bench_texts(data, max_words)
    clf = load_classifier(bundle, threads=threads, **options)
    clf.score_batch(texts[:1])
    first = time.perf_counter() - START
    signal_ready()
    clf.score_batch(texts)
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        clf.score_batch(texts)
        best = min(best, time.perf_counter() - start)
    print(json.dumps({"texts": len(texts), "ms_per_text": best / len(texts) * 1000,
                      "first_score_in_process_s": first, "peak_rss_mib": peak_rss_mib()}))


def parse_option(text: str) -> tuple[str, int]:
    key, _, value = text.partition("=")
    return key, int(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--pairs", type=int, default=4, help="processes per layout and text mix")
    parser.add_argument("--passes", type=int, default=3, help="timed passes per process, best kept")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--option", type=parse_option, action="append", default=[],
                        help="a load_classifier option, K=INT (e.g. parallel_runs=1)")
    parser.add_argument("--result", default="roberta_weights_layout")
    add_note_argument(parser)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--max-words", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    options = dict(args.option)
    if args.worker:
        worker(args.worker, args.data, args.max_words, args.passes, args.threads, options)
        return

    if args.prepare:
        external = build(args.work, args.data)["int8"]
        if "model.onnx.data" not in json.loads((external / "manifest.json").read_text())["files"]:
            raise SystemExit(f"{external} keeps its weights in model.onnx: it was exported before they "
                             "moved to model.onnx.data. Rebuild it: python benchmarks/roberta_real_shape.py "
                             "--force (or delete it).")
        embedded = embedded_copy(external, args.work / "bundle-int8-embedded")
        print(json.dumps({"external": str(external), "embedded": str(embedded)}))
        return
    # In a child: a child's ru_maxrss starts at its parent's RSS at fork (Linux), so this process
    # must never hold a model (onnx.load of the bundle is ~300 MiB).
    bundles = run_child_json([sys.executable, __file__, "--prepare", "--data", str(args.data),
                              "--work", str(args.work)])
    rows: dict[str, dict[str, list[dict]]] = {mix: {layout: [] for layout in LAYOUTS} for mix in MIXES}
    for mix, max_words in MIXES.items():
        for pair in range(args.pairs):
            order = LAYOUTS if pair % 2 == 0 else LAYOUTS[::-1]
            for layout in order:
                cmd = [sys.executable, __file__, "--worker", str(bundles[layout]), "--data", str(args.data),
                       "--passes", str(args.passes), "--threads", str(args.threads)]
                cmd += [f"--option={k}={v}" for k, v in options.items()]
                if max_words:
                    cmd += ["--max-words", str(max_words)]
                rows[mix][layout].append(run_child_timed(cmd))

    def summary(runs: list[dict]) -> dict:
        field = {"ms_per_text": "ms_per_text", "first_score_from_spawn_s": "from_spawn_s",
                 "peak_rss_mib": "peak_rss_mib"}
        return {name: {"median": statistics.median(r[key] for r in runs), "all": [r[key] for r in runs]}
                for name, key in field.items()}

    report = {"bundles": bundles, "threads": args.threads,
              "options": options, "pairs": args.pairs, "passes": args.passes,
              "results": {mix: {layout: {"texts": runs[0]["texts"], **summary(runs)}
                                for layout, runs in by_layout.items()} for mix, by_layout in rows.items()}}
    lines = [f"RoBERTa int8 weights layout, {args.pairs} fresh processes per row (layouts alternating), "
             f"{args.threads} threads, options {options or 'defaults'}; medians (all runs in the JSON).", "",
             "| texts | weights | ms/text | first score from spawn (s) | peak RSS (MiB) | = MB |",
             "|---|---|---:|---:|---:|---:|"]
    for mix, by_layout in report["results"].items():
        for layout, row in by_layout.items():
            rss = row["peak_rss_mib"]["median"]
            lines.append(f"| {mix} ({row['texts']}) | {layout} | {row['ms_per_text']['median']:.2f} | "
                         f"{row['first_score_from_spawn_s']['median']:.3f} | {rss:.1f} | {mib_to_mb(rss):.1f} |")
    write_report(args.result, report, "\n".join(lines), note=args.note)


if __name__ == "__main__":
    main()
