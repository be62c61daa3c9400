"""RoBERTa speed: alignmenter's model through a transformers pipeline vs this tier, same texts,
same machine.

Each configuration runs in its own fresh process (cold start and peak RSS are per process):

1. ``pipeline-single``  transformers pipeline, one text per call, fp32 torch: alignmenter 0.3.5's
                        way of running its model, plus ``truncation=True, max_length=512`` so
                        texts over 512 tokens are cut instead of raising (alignmenter calls its
                        pipeline without truncation: such a text raises and it scores it 1.0)
2. ``pipeline-batched`` the same pipeline, batch_size 8
3. ``ort-fp32``         this tier on the fp32 bundle (length-sorted batches of 8)
4. ``ort-int8``         this tier on the int8 bundle with its defaults (one window per session
                        run, ``threads`` runs at a time) - the product

plus profiling rows for the int8 tier (one run at a time, batch sizes, unsorted batches, one
text per call, spinning, tokenization share). Every row scores all texts once untimed (warm-up),
then ``--passes`` timed passes (the best kept); the int8 profile runs after the timed passes.
Cold start is timed twice: from just before this process spawns the child to the moment it
reads the child's line after its first score (``cold_start_from_spawn_s``: interpreter start-up
included, the goal's clock), and inside the child from the top of this script
(``cold_start_in_process_s``; what results before the from-spawn clock recorded as
``cold_start_s``). Peak RSS is ``ru_maxrss`` in MiB; the goal (<= 200 MB) is judged in MB.
The memory-arena study is benchmarks/roberta_arena.py.

    flock /tmp/alignmenter-bench.lock python benchmarks/roberta_speed.py [--data DIR] [--threads 2]
        [--max-words 30] [--result NAME] [--note TEXT]

Inputs come from benchmarks/roberta_real_shape.py (built on first use). Texts: the 300 texts of
``--data`` held out from the tokenizer's training (``roberta_real_shape.bench_texts``); with
``--max-words N`` only those of them of at most N words. Results: benchmarks/results/NAME.json
and .md (default roberta_speed).
"""

from __future__ import annotations

import time

T_START = time.perf_counter()  # before every import but this one: the in-process cold start starts here

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
RSS_GOAL_MB = 200


# ------------------------------------------------------------------------------------------
# workers (run in a child process; print one JSON line)
# ------------------------------------------------------------------------------------------
def _timed_passes(score_all, passes: int) -> list[float]:
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        score_all()
        times.append(time.perf_counter() - start)
    return times


def worker(cfg: dict) -> dict:
    from benchmarks.common import peak_rss_mib, rss_mib, signal_ready

    texts: list[str] = cfg["texts"]
    mode, threads = cfg["mode"], cfg["threads"]
    result: dict = {"mode": mode, "threads": threads}
    if mode.startswith("pipeline"):
        import torch
        from transformers import pipeline

        torch.set_num_threads(threads)
        # alignmenter 0.3.5 passes no truncation (a text over 512 tokens raises there, scored 1.0);
        # truncation here so that the baseline scores every text instead of raising.
        clf = pipeline("text-classification", model=cfg["hf"], tokenizer=cfg["hf"], device="cpu",
                       truncation=True, max_length=512)
        clf(texts[0])
        result["cold_start_in_process_s"] = time.perf_counter() - T_START
        signal_ready()
        if mode == "pipeline-single":
            def score_all():
                for text in texts:
                    clf(text)
        else:
            def score_all():
                clf(texts, batch_size=cfg["batch_size"])
    else:
        from alignmenter_edge.registry import load_classifier

        t_load = time.perf_counter()
        clf = load_classifier(cfg["bundle"], threads=threads, batch_size=cfg["batch_size"],
                              verify=cfg.get("verify", True), **cfg.get("options", {}))
        result["load_s"] = time.perf_counter() - t_load
        result["import_s"] = t_load - T_START
        clf(texts[0])
        result["cold_start_in_process_s"] = time.perf_counter() - T_START
        signal_ready()
        if cfg.get("unsorted"):
            import alignmenter_edge.tiers.roberta_onnx as tier

            tier.length_sorted_batches = lambda lengths, size: [
                list(range(i, min(i + size, len(lengths)))) for i in range(0, len(lengths), size)]
        if cfg.get("per_call"):
            def score_all():
                for text in texts:
                    clf(text)
        else:
            def score_all():
                clf.score_batch(texts)
    result["rss_after_first_mib"] = rss_mib()
    warmup = _timed_passes(score_all, 1)  # every row: one untimed pass before the timed ones
    times = _timed_passes(score_all, cfg["passes"])
    best = min(times)
    result.update({
        "texts": len(texts), "warmup_pass_s": warmup[0], "pass_s": times, "ms_per_text": 1000 * best / len(texts),
        "texts_per_s": len(texts) / best, "peak_rss_mib": peak_rss_mib(),
    })
    if cfg.get("profile"):  # after the timed passes and the peak RSS: it neither warms nor weighs on them
        result["profile"] = _profile(clf, texts)
    return result


def _profile(clf, texts: list[str]) -> dict:
    """Where the int8 tier's time goes: tokenization, window/pad assembly, session.run."""
    import numpy as np

    engine = clf.engine
    start = time.perf_counter()
    encoded = engine.encode(texts)
    t_tok = time.perf_counter() - start
    sequences = [w for ids in encoded for w in engine.windows(ids)]
    lengths = [len(s) for s in sequences]
    from alignmenter_edge.windows import length_sorted_batches

    t_pad, t_run, padded = 0.0, 0.0, 0
    for batch in length_sorted_batches(lengths, clf.batch_size):
        t0 = time.perf_counter()
        width = max(lengths[i] for i in batch)
        ids = np.full((len(batch), width), engine.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, i in enumerate(batch):
            ids[row, :lengths[i]] = sequences[i]
            mask[row, :lengths[i]] = 1
        t1 = time.perf_counter()
        engine.session.run(None, {"input_ids": ids, "attention_mask": mask})
        t2 = time.perf_counter()
        t_pad += t1 - t0
        t_run += t2 - t1
        padded += ids.size
    total = t_tok + t_pad + t_run
    return {"tokenize_s": t_tok, "assemble_s": t_pad, "session_run_s": t_run,
            "tokenize_share": t_tok / total, "session_share": t_run / total,
            "windows": len(sequences), "real_tokens": sum(lengths), "padded_tokens": padded,
            "padding_overhead": padded / sum(lengths) - 1}


# ------------------------------------------------------------------------------------------
# orchestration
# ------------------------------------------------------------------------------------------
def run_child(cfg: dict, work: Path) -> dict:
    """One configuration in a fresh process, its cold start timed from just before the spawn."""
    from benchmarks.common import run_child_timed

    cfg_path = work / "child.json"
    cfg_path.write_text(json.dumps(cfg))
    row = run_child_timed([sys.executable, __file__, "--worker", str(cfg_path)],
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "true"})
    row["cold_start_from_spawn_s"] = row.pop("from_spawn_s")
    return row


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file()) / 1e6


def main() -> None:
    sys.path.insert(0, str(HERE))
    from benchmarks.common import add_note_argument, mib_to_mb, write_report
    from roberta_real_shape import DEFAULT_DATA, DEFAULT_WORK, bench_texts, build

    parser = argparse.ArgumentParser(description="RoBERTa tier speed benchmark")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of *.jsonl")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--passes", type=int, default=1, help="timed passes per config (best kept), "
                        "after one untimed warm-up pass")
    parser.add_argument("--quick", action="store_true", help="main four configurations only")
    parser.add_argument("--max-words", type=int, default=None,
                        help="only the held-out texts of at most this many words (e.g. 30: short chat turns)")
    parser.add_argument("--result", default="roberta_speed",
                        help="results/NAME.json and .md (default roberta_speed; name other machines' runs)")
    add_note_argument(parser)
    args = parser.parse_args()

    paths = build(args.work, args.data)
    texts, source = bench_texts(args.data, args.max_words)

    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(paths["int8"] / "tokenizer.json"))
    lengths = [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]
    common = {"texts": texts, "threads": args.threads, "passes": args.passes, "hf": str(paths["hf"])}
    configs = [
        ("pipeline-single", {"mode": "pipeline-single", "batch_size": 1}),
        ("pipeline-batched", {"mode": "pipeline-batched", "batch_size": 8}),
        ("ort-fp32", {"mode": "ort", "bundle": str(paths["fp32"]), "batch_size": 8}),
        # this tier with its defaults: int8 runs one window per session call (batch-invariant)
        ("ort-int8", {"mode": "ort", "bundle": str(paths["int8"]), "batch_size": None, "profile": True}),
    ]
    if not args.quick:
        configs += [
            ("ort-int8 one run at a time", {"mode": "ort", "bundle": str(paths["int8"]), "batch_size": None,
                                            "options": {"parallel_runs": 1}}),
            ("ort-int8 batch 8", {"mode": "ort", "bundle": str(paths["int8"]), "batch_size": 8}),
            ("ort-int8 no hash verify", {"mode": "ort", "bundle": str(paths["int8"]), "batch_size": None,
                                         "verify": False}),
            ("ort-int8 batch 1 per call", {"mode": "ort", "bundle": str(paths["int8"]), "batch_size": 1,
                                           "per_call": True}),
            ("ort-int8 batch 16", {"mode": "ort", "bundle": str(paths["int8"]), "batch_size": 16}),
            ("ort-int8 batch 8 unsorted", {"mode": "ort", "bundle": str(paths["int8"]), "batch_size": 8,
                                           "unsorted": True}),
            ("ort-int8 spinning on", {"mode": "ort", "bundle": str(paths["int8"]), "batch_size": None,
                                      "options": {"spinning": True}}),
        ]
    rows = {}
    for name, cfg in configs:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows[name] = run_child({**common, **cfg}, args.work)
        print(f"  {rows[name]['ms_per_text']:.1f} ms/text, cold {rows[name]['cold_start_from_spawn_s']:.3f} s "
              f"from spawn, peak {rows[name]['peak_rss_mib']:.1f} MiB", file=sys.stderr, flush=True)
    base = rows["pipeline-single"]["texts_per_s"]
    for row in rows.values():
        row["speedup_vs_baseline"] = row["texts_per_s"] / base

    import onnxruntime
    import tokenizers
    import torch
    import transformers

    int8 = rows["ort-int8"]
    peak_mb = mib_to_mb(int8["peak_rss_mib"])
    report = {
        "benchmark": "roberta_speed",
        "machine": {"threads": args.threads, "load_average_at_end": list(os.getloadavg())},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "onnxruntime": onnxruntime.__version__, "tokenizers": tokenizers.__version__},
        "model": "random weights, distilroberta shape (6 layers, hidden 768, 12 heads, vocab 50265, "
                 "514 positions); tokenizer: 50265-entry ByteLevel BPE trained locally",
        "baseline": "transformers pipeline as alignmenter 0.3.5 runs its model, plus truncation=True, "
                    "max_length=512 so long texts are cut instead of raising",
        "texts": {"source": source, "count": len(texts), "tokens_mean": statistics.mean(lengths),
                  "tokens_median": statistics.median(lengths), "tokens_max": max(lengths),
                  "over_510_tokens": sum(n > 510 for n in lengths)},
        "threads": args.threads, "passes": args.passes, "warmup_passes": 1,
        "bundle_mb": {"int8": dir_mb(paths["int8"]), "fp32": dir_mb(paths["fp32"]),
                      "hf_source": dir_mb(paths["hf"])},
        "units": {"peak_rss_mib": "MiB (ru_maxrss KiB / 1024)", "bundle_mb": "MB (10**6 bytes)",
                  "goals": "MB"},
        "rows": rows,
        "goals": {
            "int8_speedup_ge_7x": {"value": int8["speedup_vs_baseline"], "met": int8["speedup_vs_baseline"] >= 7},
            "int8_ms_per_text_le_10": {"value": int8["ms_per_text"], "met": int8["ms_per_text"] <= 10},
            "cold_start_from_spawn_le_0.3s": {"value": int8["cold_start_from_spawn_s"],
                                              "met": int8["cold_start_from_spawn_s"] <= 0.3},
            "peak_rss_le_200mb": {"value": peak_mb, "unit": "MB", "met": peak_mb <= RSS_GOAL_MB},
            "bundle_le_85mb": {"value": dir_mb(paths["int8"]), "unit": "MB", "met": dir_mb(paths["int8"]) <= 85},
        },
    }
    write_report(args.result, report, markdown(report), note=args.note)


def markdown(report: dict) -> str:
    from benchmarks.common import cpu_model, mib_to_mb

    rows = report["rows"]
    size = {"pipeline-single": report["bundle_mb"]["hf_source"], "pipeline-batched": report["bundle_mb"]["hf_source"],
            "ort-fp32": report["bundle_mb"]["fp32"]}
    lines = [
        f"RoBERTa speed, {report['texts']['source']} (mean {report['texts']['tokens_mean']:.0f} tokens, "
        f"median {report['texts']['tokens_median']:.0f}, max {report['texts']['tokens_max']}), "
        f"{report['threads']} threads, {cpu_model()}; one untimed warm-up pass per row, best of "
        f"{report['passes']} timed. Compare ratios within this run.",
        "",
        "| configuration | ms/text | texts/s | × baseline | cold start from spawn (s) | in-process (s) "
        "| peak RSS (MiB) | = MB | model on disk (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        disk = size.get(name, report["bundle_mb"]["int8"])
        lines.append(f"| {name} | {row['ms_per_text']:.1f} | {row['texts_per_s']:.1f} | "
                     f"{row['speedup_vs_baseline']:.2f} | {row['cold_start_from_spawn_s']:.3f} | "
                     f"{row['cold_start_in_process_s']:.3f} | {row['peak_rss_mib']:.1f} | "
                     f"{mib_to_mb(row['peak_rss_mib']):.1f} | {disk:.1f} |")
    prof = rows["ort-int8"].get("profile")
    if prof:
        lines += ["", f"int8 profile: tokenization {100 * prof['tokenize_share']:.1f} %, session.run "
                      f"{100 * prof['session_share']:.1f} %, batch assembly {1000 * prof['assemble_s']:.1f} ms; "
                      f"{prof['windows']} windows, padding overhead {100 * prof['padding_overhead']:.1f} % "
                      f"of {prof['real_tokens']} real tokens."]
    lines += ["", "Goals (MB = 10^6 bytes; cold start from spawn): "
              + "; ".join(f"{k} {'met' if v['met'] else 'MISSED'} ({v['value']:.4g})"
                          for k, v in report["goals"].items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        config = json.loads(Path(sys.argv[2]).read_text())
        out = worker(config)
        print(json.dumps(out))
    else:
        main()
