"""Memory over time: RSS while one process scores a long stream of texts (goal: flat within ±5%
after warm-up).

    flock /tmp/alignmenter-bench.lock python benchmarks/memory_over_time.py \
        [--runs heuristic:1000000 lexicon:1000000 dropin-heuristic:1000000 roberta-onnx:100000] \
        [--bundle DIR] [--data ../shared/data] [--batch N] [--name NAME] [--note TEXT]

Every run happens in a fresh subprocess (so one tier's allocations do not hide another's). Texts
are the ../shared/data texts cycled with a running number appended, so every text is distinct and
lengths stay mixed (``--no-distinct``: the pool cycled as is); they are generated batch by batch,
so the benchmark holds no large list, and passed ``--batch`` at a time to ``score_batch`` (default
1024 texts, 64 for ``roberta-onnx``; the stdlib tiers also get it as their ``batch_size``,
while ``roberta-onnx`` keeps its own session batch size). RSS
(VmRSS) is read from /proc/self/status every ``--samples``-th of the run, together with the peak
RSS since the previous sample (VmHWM, reset through /proc/self/clear_refs where the kernel allows
it). All RSS figures are MiB (the kernel's kB are KiB); fields ending ``_mb`` in results written
before this was said are MiB too. ``rss_max_sampled_mib`` (``rss_peak_mb`` before) is the
highest *sampled* RSS, not the process's peak: the peak between samples is ``interval_peak``. ``dropin-heuristic`` is the
alignmenter drop-in (``load_safety_classifier``) with its bounded score cache, fed only distinct
texts: its cache fills during warm-up and must then stay at its bound.

``roberta-onnx`` uses ``--bundle``, else the real-shape int8 bundle of roberta_real_shape.py
(benchmarks/work/roberta/bundle-int8), else it exports the tiny trained test model into
benchmarks/work/memory/; the result names the bundle and its files. (A search of benchmarks/work/
once picked the embedded-weights copy of roberta_weights_layout.py instead of the bundle.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import add_note_argument, load_texts, rss_mib, run_child_json, write_result  # noqa: E402
from benchmarks.roberta_real_shape import DEFAULT_WORK as REAL_SHAPE_WORK  # noqa: E402

WORK = ROOT / "benchmarks" / "work"
DEFAULT_RUNS = ("heuristic:1000000", "lexicon:1000000", "dropin-heuristic:1000000", "roberta-onnx:100000")
DEFAULT_BATCH = {"roberta-onnx": 64}  # texts per score_batch call; 1024 for the others
WARMUP_FRACTION = 0.2
TOLERANCE = 0.05


def interval_peak_mib() -> float | None:
    """Peak RSS in MiB since the last call (VmHWM, then reset through /proc/self/clear_refs); None
    where the kernel does not allow the reset."""
    try:
        with open("/proc/self/status") as handle:
            peak = next(int(line.split()[1]) / 1024 for line in handle if line.startswith("VmHWM:"))
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except (OSError, StopIteration, ValueError):
        return None
    return peak


def text_stream(pool: list[str], count: int, batch: int, distinct: bool = True) -> Iterator[list[str]]:
    for start in range(0, count, batch):
        stop = min(count, start + batch)
        if distinct:
            yield [f"{pool[i % len(pool)]} #{i}" for i in range(start, stop)]
        else:
            yield [pool[i % len(pool)] for i in range(start, stop)]


def measure(model: str, count: int, batch: int, samples: int, data: str, bundle: str | None,
            distinct: bool = True, progress: str | None = None, arena: str | None = None) -> dict[str, Any]:
    """One run, in this process: load, stream ``count`` texts, sample RSS.

    With ``progress``, every sample is also appended to that JSONL file as it is taken, so a run
    stopped early still leaves its trace (``--summarize-progress`` turns it into a result).
    """
    pool, source = load_texts(data)
    start_rss = rss_mib()
    started = time.perf_counter()
    if model == "dropin-heuristic":
        from alignmenter_edge.alignmenter import load_safety_classifier

        fn = load_safety_classifier("heuristic")
        score, info = fn.score_batch, fn.info
    else:
        from alignmenter_edge import load_classifier

        options = {"arena": arena} if arena and model == "roberta-onnx" else {}
        clf = load_classifier(bundle or model, batch_size=batch if model != "roberta-onnx" else None,
                              **options)
        score, info = clf.score_batch, clf.info
    load_s = time.perf_counter() - started
    arena_used = info.details.get("arena")  # roberta-onnx only
    every = max(batch, count // samples)
    interval_peak_mib()  # the first interval's peak starts here, after loading
    trace: list[tuple[int, float, float, float | None]] = [(0, 0.0, round(rss_mib(), 2), None)]
    done, next_sample, checksum = 0, every, 0.0
    log = open(progress, "a", encoding="utf-8") if progress else None
    if log:
        log.write(json.dumps({"model": model, "tier": info.tier, "model_id": info.model_id,
                              "arena": arena_used,
                              "planned_texts": count, "batch": batch, "text_source": source,
                              "load_s": round(load_s, 3), "rss_before_load_mib": round(start_rss, 2),
                              "sample": trace[0]}) + "\n")
        log.flush()
    run_start = time.perf_counter()
    for texts in text_stream(pool, count, batch, distinct):
        checksum += sum(score(texts))
        done += len(texts)
        if done >= next_sample or done == count:
            peak = interval_peak_mib()
            trace.append((done, round(time.perf_counter() - run_start, 3), round(rss_mib(), 2),
                          None if peak is None else round(peak, 2)))
            next_sample += every
            if log:
                log.write(json.dumps({"sample": trace[-1]}) + "\n")
                log.flush()
    if log:
        log.close()
    elapsed = time.perf_counter() - run_start
    result = {"model": model, "tier": info.tier, "model_id": info.model_id, "texts": done,
              "batch": batch, "text_source": source, "distinct_texts": distinct, "load_s": round(load_s, 3),
              "seconds": round(elapsed, 2), "texts_per_s": round(done / elapsed),
              "rss_before_load_mib": round(start_rss, 2), "mean_score": checksum / done,
              "trace": trace, **flatness(trace, count)}
    if arena_used:
        result["arena"] = arena_used
    if model == "dropin-heuristic":
        result["dropin_cache_entries"] = fn.cached
        result["dropin_cache_size"] = fn.cache_size
    return result


def flatness(trace: list[tuple], count: int) -> dict[str, Any]:
    """Spread after warm-up, relative to the median, of RSS at each sample and (where the kernel
    allows resetting VmHWM) of the peak RSS within each interval between samples."""
    after = [sample for sample in trace if sample[0] >= WARMUP_FRACTION * count]
    result = {"warmup_texts": int(WARMUP_FRACTION * count),
              "rss_max_sampled_mib": max(sample[2] for sample in trace),
              **spread([(sample[0], sample[2]) for sample in after], "rss")}
    peaks = [(sample[0], sample[3]) for sample in after if len(sample) > 3 and sample[3] is not None]
    if peaks:
        result["interval_peak"] = spread(peaks, "interval_peak")
    return result


def spread(points: list[tuple[int, float]], name: str) -> dict[str, Any]:
    """Median, range, largest relative deviation from the median and least-squares slope."""
    values = sorted(value for _, value in points)
    median = values[len(values) // 2]
    worst = max(abs(value - median) / median for value in values)
    xs, ys = [n for n, _ in points], [value for _, value in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs) or 1.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var
    return {f"{name}_median_after_warmup_mib": median, f"{name}_min_after_warmup_mib": values[0],
            f"{name}_max_after_warmup_mib": values[-1], "max_deviation_after_warmup": round(worst, 4),
            "slope_mib_per_100k_texts": round(slope * 100_000, 3), "flat_within_5pct": worst <= TOLERANCE}


def summarize_progress(path: str) -> dict[str, Any]:
    """A result from a progress file, also of a run stopped before its planned count."""
    lines = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
    head, trace = lines[0], [tuple(line["sample"]) for line in lines]
    done = trace[-1][0]
    run = {key: head.get(key) for key in ("model", "tier", "model_id", "arena", "planned_texts", "batch",
                                          "text_source", "load_s")}
    run["rss_before_load_mib"] = head.get("rss_before_load_mib", head.get("rss_before_load_mb"))  # older files
    run.update({"texts": done, "completed": done >= head["planned_texts"], "seconds": trace[-1][1],
                "texts_per_s": round(done / trace[-1][1]) if trace[-1][1] else None, "trace": trace,
                **flatness(trace, done)})
    return run


def find_roberta_bundle(explicit: str | None, tiny_only: bool = False) -> tuple[str, str]:
    """The bundle to run and how it was chosen: ``--bundle``; else the real-shape int8 bundle of
    benchmarks/roberta_real_shape.py if it was built; else the tiny test model (exported here)."""
    if explicit:
        return explicit, f"given with --bundle: {explicit}"
    real = REAL_SHAPE_WORK / "bundle-int8"
    if not tiny_only and (real / "manifest.json").is_file():
        data = json.loads((real / "manifest.json").read_text())
        return str(real), (f"real-shape bundle {real.relative_to(ROOT)} ({data.get('model_id')}; "
                           f"files {', '.join(sorted(data.get('files', {})))})")
    tiny = WORK / "memory" / "tiny-roberta-int8"
    if not (tiny / "manifest.json").is_file():
        from alignmenter_edge.export.roberta import export_roberta
        from alignmenter_edge.export.roberta_synthetic import build_tiny_trained_roberta

        source = build_tiny_trained_roberta(WORK / "memory" / "tiny-roberta-hf")
        export_roberta(str(source), tiny, quantize="int8", model_id="tiny-roberta-int8", force=True)
    why = "--tiny" if tiny_only else "no real-shape bundle available"
    return str(tiny), f"{why}: the tiny trained test model (2 layers, hidden 64), int8"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS), help="MODEL:TEXTS ...")
    parser.add_argument("--bundle", help="roberta-onnx bundle directory")
    parser.add_argument("--tiny", action="store_true", help="use the tiny test model even if a "
                        "real-shape bundle exists")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--samples", type=int, default=100, help="RSS samples per run")
    parser.add_argument("--batch", type=int, default=None, help="texts per score_batch call, for every run "
                        "(default 1024, and 64 for roberta-onnx)")
    parser.add_argument("--name", default="memory_over_time", help="results/NAME.json")
    parser.add_argument("--no-distinct", action="store_true", help="cycle the pool texts as they "
                        "are (default: append ' #N' so every text, and one word of it, is new)")
    parser.add_argument("--arena", choices=("off", "on", "shrink"), help="roberta-onnx memory arena "
                        "(default: the tier's own)")
    parser.add_argument("--progress", help="append every RSS sample to this JSONL file as it is taken")
    parser.add_argument("--summarize-progress", metavar="FILE", help="write the result of a (possibly "
                        "stopped) run from its --progress file; warm-up is 20%% of the texts it reached")
    add_note_argument(parser)
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "TEXTS", "BUNDLE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, count, bundle = args.child
        print(json.dumps(measure(model, int(count), args.batch, args.samples, args.data,
                                 bundle if bundle != "-" else None, not args.no_distinct, args.progress,
                                 args.arena)))
        return
    if args.summarize_progress:
        run = summarize_progress(args.summarize_progress)
        print(write_result(args.name, {"goal": "RSS within ±5% of its post-warm-up median", "units": "MiB",
                                       "warmup_fraction": WARMUP_FRACTION, "runs": [run]}, note=args.note))
        return

    from alignmenter_edge.registry import TIERS

    runs, notes = [], {}
    for spec in args.runs:
        model, _, count = spec.partition(":")
        bundle = "-"
        if model not in TIERS and model != "dropin-heuristic":
            notes[model] = f"skipped: tier {model!r} does not exist in this checkout"
            continue
        if model == "roberta-onnx":
            bundle, notes[model] = find_roberta_bundle(args.bundle, args.tiny)
        batch = args.batch or DEFAULT_BATCH.get(model, 1024)
        print(f"{model}: {count} texts, {batch} per call ...", file=sys.stderr, flush=True)
        run = run_child_json([sys.executable, __file__, "--child", model, count, bundle,
                              "--batch", str(batch), "--samples", str(args.samples), "--data", args.data,
                              *(["--no-distinct"] if args.no_distinct else []),
                              *(["--arena", args.arena] if args.arena else []),
                              *(["--progress", args.progress] if args.progress else [])])
        if model == "roberta-onnx":
            run["bundle"] = notes[model]
        runs.append(run)
        print(f"  {run['texts']} texts in {run['seconds']} s; RSS median {run['rss_median_after_warmup_mib']} MiB "
              f"after warm-up, max deviation {100 * run['max_deviation_after_warmup']:.2f}% "
              f"({'flat' if run['flat_within_5pct'] else 'NOT flat'}), highest sample "
              f"{run['rss_max_sampled_mib']} MiB", file=sys.stderr, flush=True)
        if "interval_peak" in run:
            peaks = run["interval_peak"]
            print(f"  peak RSS per interval: median {peaks['interval_peak_median_after_warmup_mib']} MiB, max "
                  f"deviation {100 * peaks['max_deviation_after_warmup']:.2f}% "
                  f"({'flat' if peaks['flat_within_5pct'] else 'NOT flat'})", file=sys.stderr, flush=True)
    path = write_result(args.name, {"goal": "RSS within ±5% of its post-warm-up median", "units": "MiB",
                                    "warmup_fraction": WARMUP_FRACTION, "notes": notes, "runs": runs},
                        note=args.note)
    print(path)


if __name__ == "__main__":
    main()
