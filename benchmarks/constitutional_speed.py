"""Benchmark of the constitutional-gguf tier on the full Qwen3-1.7B shape (random weights).

Compares, on the same machine and in the same run:

1. naive      - the full prompt (constitution + item) evaluated per item, Q4_K_M;
2. cached     - this tier: constitution prefix evaluated once, per item only the suffix,
                Q4_K_M and Q8_0;
3. raw        - llama.cpp's own prompt-eval time for exactly the same suffix tokens on top of the
                same cached prefix (one bare ``llama_decode`` call, timed interleaved with (2)),
                to show the overhead of our layer (tokenization, batch filling, KV trim, logits).

Each configuration runs in its own subprocess so peak RSS is per configuration. In each, the
first item is a warm-up (scored, not averaged); s/item is the mean over the next ``--items``
(cached, default 20) or ``--naive-items`` (naive, default 3). Peak RSS is ``ru_maxrss`` in GiB;
the goal (<= 1.5 GB) is judged in GB. Speed does not depend on weight values, so the model is
random (written once under benchmarks/work/, reused).

    flock /tmp/alignmenter-bench.lock python benchmarks/constitutional_speed.py prepare \\
        --data /work/shared/data
    flock /tmp/alignmenter-bench.lock python benchmarks/constitutional_speed.py run \\
        --data /work/shared/data --threads 2 [--result NAME] [--note TEXT]

Results: benchmarks/results/NAME.json and NAME.md (``--result NAME``, default constitutional).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "work" / "constitutional"
sys.path.insert(0, str(ROOT.parent))

from benchmarks.common import (add_note_argument, cpu_model, gib_to_gb, peak_rss_mib, read_texts,  # noqa: E402
                               run_child_json, write_report)

PREFIX_TARGET = 1500  # constitution prefix tokens
ITEM_RANGE = (45, 80)  # item suffix tokens (content + chat framing), ~60 on average
GOALS = {"q4_s_per_item": 0.8, "speedup": 20.0, "peak_rss_gb": 1.5, "overhead": 0.10}
WARMUP_ITEMS = 1  # scored first in every configuration, not averaged


# --------------------------------------------------------------------------------------------
# prepare: tokenizer, ~1.5k-token constitution, random full-size GGUFs (F16 → Q8_0, Q4_K_M)


def _texts(data: Path | None) -> list[str]:
    return read_texts(data)


def prepare(args: argparse.Namespace) -> None:
    import numpy as np

    from alignmenter_edge.export.constitutional import quantize_gguf
    from alignmenter_edge.export.constitutional_synthetic import QWEN3_1_7B, train_qwen_tokenizer
    from alignmenter_edge.export.gguf_writer import TensorSource, read_vocab, write_qwen3_gguf
    from alignmenter_edge.models import SPEC_DIR, load_spec

    WORK.mkdir(parents=True, exist_ok=True)
    constitution = (SPEC_DIR / "constitution-default.md").read_text(encoding="utf-8")
    tok_dir = WORK / "tokenizer"
    if not (tok_dir / "tokenizer.json").exists():
        train_qwen_tokenizer(tok_dir, [constitution] + _texts(args.data), vocab_size=32000)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    # A ~1.5k-token constitution: the default one plus an appendix restating its categories.
    spec = load_spec("constitutional-safety-classifier")
    template = spec["prompt"]["template"]
    overhead = len(tokenizer.encode(template.split("{constitution}")[0]).ids) + 3
    long_text = constitution
    while len(tokenizer.encode(long_text).ids) < PREFIX_TARGET + 200:
        long_text += "\n\n## Appendix: the categories restated\n\n" + constitution.split("## Harmful Content Categories")[1]
    ids = tokenizer.encode(long_text).ids[: PREFIX_TARGET - overhead]
    (WORK / "constitution.md").write_text(tokenizer.decode(ids), encoding="utf-8")

    f16 = WORK / "qwen3-1.7b-random-f16.gguf"
    if not f16.exists():
        shape = QWEN3_1_7B
        config = shape.config_dict()
        vocab = read_vocab(tok_dir / "tokenizer.json", shape.vocab_size,
                           json.loads((tok_dir / "tokenizer_config.json").read_text()))
        rng = np.random.default_rng(0)

        def random(shape_: tuple[int, ...], norm: bool = False):
            if norm:
                return lambda: np.ones(shape_, dtype=np.float32)
            return lambda: (rng.standard_normal(shape_, dtype=np.float32) * 0.02).astype(np.float16)

        h, kv = shape.hidden_size, shape.num_key_value_heads * shape.head_dim
        q, ff = shape.num_attention_heads * shape.head_dim, shape.intermediate_size
        sources = [TensorSource("model.embed_tokens.weight", (shape.vocab_size, h), random((shape.vocab_size, h))),
                   TensorSource("model.norm.weight", (h,), random((h,), True))]
        for i in range(shape.num_hidden_layers):
            p = f"model.layers.{i}."
            for name, dims in (("self_attn.q_proj", (q, h)), ("self_attn.k_proj", (kv, h)),
                               ("self_attn.v_proj", (kv, h)), ("self_attn.o_proj", (h, q)),
                               ("mlp.gate_proj", (ff, h)), ("mlp.up_proj", (ff, h)),
                               ("mlp.down_proj", (h, ff))):
                sources.append(TensorSource(p + name + ".weight", dims, random(dims)))
            for name, dims in (("input_layernorm", (h,)), ("post_attention_layernorm", (h,)),
                               ("self_attn.q_norm", (shape.head_dim,)), ("self_attn.k_norm", (shape.head_dim,))):
                sources.append(TensorSource(p + name + ".weight", dims, random(dims, True)))
        tmp = f16.with_suffix(".tmp")
        write_qwen3_gguf(tmp, config, vocab, sources, dtype="F16", name="qwen3-1.7b-random")
        tmp.rename(f16)
    for quant in ("Q8_0", "Q4_K_M"):
        target = WORK / f"qwen3-1.7b-random-{quant.lower()}.gguf"
        if not target.exists():
            t0 = time.perf_counter()
            quantize_gguf(f16, target.with_suffix(".tmp"), quant, threads=args.threads)
            target.with_suffix(".tmp").rename(target)
            print(f"{quant}: quantized in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(f"prepared {WORK}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# worker: one configuration in its own process


def _items(tokenizer, layout, data: Path | None, n: int) -> list[str]:
    chosen = []
    for text in _texts(data) or _fallback_items():
        count = len(layout.suffix_ids(text))
        if ITEM_RANGE[0] <= count <= ITEM_RANGE[1]:
            chosen.append(text)
        if len(chosen) == n:
            break
    if len(chosen) < n:
        raise SystemExit(f"only {len(chosen)} items of {ITEM_RANGE} tokens found")
    return chosen


def _fallback_items() -> list[str]:
    sentence = ("Could you explain, step by step and in plain words, how the thing I read about "
                "yesterday works, and whether it is dangerous for people who live nearby? ")
    return [f"Question {i}: " + sentence * 2 for i in range(200)]


def worker(args: argparse.Namespace) -> None:
    from alignmenter_edge.models import load_spec
    from alignmenter_edge.tiers.constitutional_gguf import ConstitutionalScorer

    spec = load_spec("constitutional-safety-classifier")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(WORK / "tokenizer" / "tokenizer.json"))
    label_ids = [tokenizer.token_to_id("safe"), tokenizer.token_to_id("unsafe")]
    model = WORK / f"qwen3-1.7b-random-{args.quant.lower()}.gguf"
    t0 = time.perf_counter()
    scorer = ConstitutionalScorer(
        model, WORK / "tokenizer" / "tokenizer.json", template=spec["prompt"]["template"],
        constitution=(WORK / "constitution.md").read_text(encoding="utf-8"), label_ids=label_ids,
        max_input_tokens=512, threads=args.threads, prefix_cache=args.mode == "cached",
        repack_weights=args.repack)
    load_s = time.perf_counter() - t0
    items = _items(tokenizer, scorer.layout, args.data, WARMUP_ITEMS + args.items)
    llama_cpp, session = scorer.session._llama, scorer.session
    per_item, raw_per_item, tokens = [], [], []
    for text in items:
        t = time.perf_counter()
        scorer.score(text)
        per_item.append(time.perf_counter() - t)
        suffix = scorer.item_windows(text)[0]
        tokens.append(len(suffix))
        if args.mode == "cached":  # raw llama.cpp for exactly the same tokens, same prefix
            memory = llama_cpp.llama_get_memory(session._ctx)
            llama_cpp.llama_memory_seq_rm(memory, 0, scorer.n_prefix, -1)
            array = (llama_cpp.llama_token * len(suffix))(*suffix)
            t = time.perf_counter()
            status = llama_cpp.llama_decode(session._ctx, llama_cpp.llama_batch_get_one(array, len(suffix)))
            raw_per_item.append(time.perf_counter() - t)
            assert status == 0
            llama_cpp.llama_memory_seq_rm(memory, 0, scorer.n_prefix, -1)
            session.n_past = scorer.n_prefix
    raw_prefix_s = None
    if args.mode == "cached":  # llama.cpp's raw prompt-eval speed on the long prefix
        session.keep(0)
        prefix = list(scorer.layout.prefix_ids)
        raw_prefix_s = 0.0
        for start in range(0, len(prefix), session.n_batch):
            chunk = prefix[start:start + session.n_batch]
            array = (llama_cpp.llama_token * len(chunk))(*chunk)
            t = time.perf_counter()
            assert llama_cpp.llama_decode(session._ctx, llama_cpp.llama_batch_get_one(array, len(chunk))) == 0
            raw_prefix_s += time.perf_counter() - t
    scorer.close()
    warmup_s = per_item[:WARMUP_ITEMS]
    per_item, raw_per_item, tokens = (per_item[WARMUP_ITEMS:], raw_per_item[WARMUP_ITEMS:], tokens[WARMUP_ITEMS:])
    result = {
        "mode": args.mode, "quant": args.quant, "repack_weights": args.repack, "threads": args.threads,
        "n_batch": session.n_batch,
        "items": len(per_item), "warmup_items": WARMUP_ITEMS, "warmup_item_s": warmup_s,
        "prefix_tokens": scorer.n_prefix, "mean_item_tokens": statistics.mean(tokens),
        "load_and_prefix_s": load_s, "s_per_item": statistics.mean(per_item),
        "median_s_per_item": statistics.median(per_item), "items_per_s": 1.0 / statistics.mean(per_item),
        "per_item_s": per_item,
        "peak_rss_gib": peak_rss_mib() / 1024,
    }
    if raw_per_item:
        result["raw_llama_decode_s_per_item"] = statistics.mean(raw_per_item)
        result["raw_prefill_tokens_per_s"] = statistics.mean(tokens) / statistics.mean(raw_per_item)
        result["overhead_vs_raw"] = statistics.mean(per_item) / statistics.mean(raw_per_item) - 1.0
    if raw_prefix_s:
        result["raw_prefix_prefill_tokens_per_s"] = scorer.n_prefix / raw_prefix_s
    print(json.dumps(result))


# --------------------------------------------------------------------------------------------
# run: all configurations, one after another, then the tables


def run(args: argparse.Namespace) -> None:
    configs = [("cached", "Q4_K_M", args.items, False), ("cached", "Q8_0", args.items, False),
               ("naive", "Q4_K_M", args.naive_items, False), ("cached", "Q4_K_M", args.items, True)]
    results = {}
    skipped = {}
    import llama_cpp

    from alignmenter_edge.tiers.llama_session import amx_repacking

    if amx_repacking(llama_cpp):  # the runtime refuses it: llama.cpp's AMX path crashed here
        configs = [c for c in configs if not c[3]]
        skipped["cached-Q4_K_M-repack"] = ("refused on this CPU: repack_weights=True would use llama.cpp's "
                                           "AMX buffers, which crashed with SIGSEGV (llama.cpp issue #20824)")
    load_before = os.getloadavg()
    for mode, quant, n, repack in configs:
        cmd = [sys.executable, __file__, "_worker", "--mode", mode, "--quant", quant, "--items", str(n),
               "--threads", str(args.threads)] + (["--data", str(args.data)] if args.data else []) \
            + (["--repack"] if repack else [])
        print("running", " ".join(cmd[2:]), file=sys.stderr)
        results[f"{mode}-{quant}" + ("-repack" if repack else "")] = run_child_json(cmd)
    q4, naive = results["cached-Q4_K_M"], results["naive-Q4_K_M"]
    q4_peak_gb = gib_to_gb(q4["peak_rss_gib"])
    sizes = {p.name: p.stat().st_size for p in sorted(WORK.glob("*.gguf"))}
    report = {
        "benchmark": "constitutional-gguf, Qwen3-1.7B shape with random weights",
        "machine": {"threads": args.threads, "llama_cpp_python": _version("llama-cpp-python"),
                    "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg())},
        "data": str(args.data) if args.data else "built-in synthetic items",
        "units": {"peak_rss_gib": "GiB (2**30 bytes)", "file_sizes_bytes": "bytes", "goals": "GB (10**9 bytes)"},
        "results": results,
        "skipped": skipped,
        "file_sizes_bytes": sizes,
        "speedup_cached_q4_vs_naive": naive["s_per_item"] / q4["s_per_item"],
        "goals": {
            "q4_s_per_item<=0.8": {"value": q4["s_per_item"], "met": q4["s_per_item"] <= GOALS["q4_s_per_item"]},
            "speedup>=20x": {"value": naive["s_per_item"] / q4["s_per_item"],
                             "met": naive["s_per_item"] / q4["s_per_item"] >= GOALS["speedup"]},
            "peak_rss_gb<=1.5 (Q4_K_M)": {"value": q4_peak_gb, "unit": "GB", "met": q4_peak_gb <= GOALS["peak_rss_gb"]},
            "overhead_vs_raw<=10%": {"value": q4["overhead_vs_raw"], "met": q4["overhead_vs_raw"] <= GOALS["overhead"]},
        },
    }
    write_report(args.result, report, markdown(report), note=args.note)


def markdown(report: dict) -> str:
    r = report["results"]
    q4 = r["cached-Q4_K_M"]
    naive = r["naive-Q4_K_M"]
    sizes = report["file_sizes_bytes"]
    size = lambda q: sizes.get(f"qwen3-1.7b-random-{q.lower()}.gguf", 0) / 1e9  # noqa: E731
    lines = [
        f"Qwen3-1.7B shape, random weights; {q4['prefix_tokens']}-token constitution prefix, items of "
        f"{q4['mean_item_tokens']:.0f} tokens on average; {report['machine']['threads']} threads on "
        f"{cpu_model()} (load average before/after "
        f"{report['machine']['loadavg_before'][0]:.1f}/{report['machine']['loadavg_after'][0]:.1f}); "
        f"s/item: mean over the items after {q4.get('warmup_items', 0)} warm-up item "
        f"({q4['items']} cached, {naive['items']} naive).",
        "",
        "| configuration | file | s/item | items/s | speedup vs naive | load + prefix | peak RSS (GiB) | = GB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, label in (("naive-Q4_K_M", "naive: full prompt per item, Q4_K_M"),
                       ("cached-Q4_K_M", "this tier: prefix cached, Q4_K_M"),
                       ("cached-Q8_0", "this tier: prefix cached, Q8_0"),
                       ("cached-Q4_K_M-repack", "this tier, Q4_K_M, `repack_weights=True`")):
        if key not in r:
            continue
        x = r[key]
        lines.append(f"| {label} | {size(x['quant']):.2f} GB | {x['s_per_item']:.3f} | {x['items_per_s']:.2f} | "
                     f"{naive['s_per_item'] / x['s_per_item']:.1f}x | {x['load_and_prefix_s']:.1f} s | "
                     f"{x['peak_rss_gib']:.3f} | {gib_to_gb(x['peak_rss_gib']):.3f} |")
    lines += [f"| {key} | — | not run: {why} | | | | | |" for key, why in report.get("skipped", {}).items()]
    lines += ["", "| llama.cpp raw prompt eval of the same suffix tokens | raw s/item | tokens/s | our overhead |",
              "|---|---|---|---|"]
    for key in ("cached-Q4_K_M", "cached-Q8_0", "cached-Q4_K_M-repack"):
        if key not in r:
            continue
        x = r[key]
        lines.append(f"| {x['quant']}{' repacked' if x.get('repack_weights') else ''} | {x['raw_llama_decode_s_per_item']:.3f} | "
                     f"{x['raw_prefill_tokens_per_s']:.0f} | {100 * x['overhead_vs_raw']:+.1f}% |")
    lines += ["", f"Goals ({report['machine']['threads']} threads; RSS in GB = 10^9 bytes):", ""]
    for name, goal in report["goals"].items():
        lines.append(f"- {name}: {goal['value']:.4g} — {'met' if goal['met'] else 'NOT met'}")
    return "\n".join(lines) + "\n"


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("prepare", "run", "_worker"):
        p = sub.add_parser(name)
        p.add_argument("--data", type=Path, default=None, help="directory of *.jsonl with a 'text' field")
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--items", type=int, default=20, help="items averaged per cached configuration, "
                       "after one warm-up item")
        p.add_argument("--naive-items", type=int, default=3, help="items averaged for the naive path, after "
                       "one warm-up item")
        p.add_argument("--mode", choices=("cached", "naive"), default="cached")
        p.add_argument("--quant", default="Q4_K_M")
        p.add_argument("--repack", action="store_true", help="llama.cpp CPU weight repacking on")
        p.add_argument("--result", default="constitutional",
                       help="results/NAME.json and .md (default constitutional; name other machines' runs)")
        add_note_argument(p)
    args = parser.parse_args()
    {"prepare": prepare, "run": run, "_worker": worker}[args.command](args)


if __name__ == "__main__":
    main()
