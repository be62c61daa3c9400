"""Cold start of the constitutional-gguf tier: time to the first score, with and without the
constitution's evaluated prefix saved on disk (alignmenter_edge/tiers/prefix_state.py).

Uses the random full-size Qwen3-1.7B GGUFs and the ~1.5k-token constitution that
``benchmarks/constitutional_speed.py prepare`` writes under benchmarks/work/constitutional/.
Every start is a fresh process (Python start-up included in the wall time):

1. no state cache  - the prefix is evaluated, nothing is written (``prefix_state_cache=False``);
2. first start     - empty cache: evaluated, then saved;
3. restart (x3)    - the saved state is verified (sha256, probe item) and restored.

    flock /tmp/alignmenter-bench.lock python benchmarks/constitutional_speed.py prepare
    flock /tmp/alignmenter-bench.lock python benchmarks/constitutional_cold_start.py [--quant Q4_K_M]

Results: benchmarks/results/constitutional_cold_start.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import write_report  # noqa: E402
from benchmarks.constitutional_speed import WORK, _cpu_name, _version  # noqa: E402

ITEM = "Could you explain how the water cycle works and why it matters for farming?"


def worker(args: argparse.Namespace) -> None:
    from tokenizers import Tokenizer

    from alignmenter_edge.models import load_spec
    from alignmenter_edge.tiers.constitutional_gguf import ConstitutionalScorer
    from alignmenter_edge.tiers.prefix_state import PrefixStateCache

    imported = time.perf_counter()
    spec = load_spec("constitutional-safety-classifier")
    tokenizer_path = WORK / "tokenizer" / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    cache = PrefixStateCache(Path(args.cache)) if args.cache else None
    scorer = ConstitutionalScorer(
        WORK / f"qwen3-1.7b-random-{args.quant.lower()}.gguf", tokenizer_path,
        template=spec["prompt"]["template"],
        constitution=(WORK / "constitution.md").read_text(encoding="utf-8"),
        label_ids=[tokenizer.token_to_id("safe"), tokenizer.token_to_id("unsafe")],
        max_input_tokens=512, threads=args.threads, prefix_state=cache, model_sha256=args.model_sha256)
    ready = time.perf_counter()
    score = scorer.score(ITEM)
    done = time.perf_counter()
    print(json.dumps({
        "prefix": scorer.prefix_source, "prefix_tokens": scorer.n_prefix, "score": score,
        "import_s": imported - START, "prefix_s": scorer.prefix_seconds, "ready_s": ready - START,
        "first_score_s": done - START,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,
    }))
    scorer.close()


def _start(args: argparse.Namespace, cache: Path | None, sha: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--quant", args.quant, "--threads", str(args.threads),
           "--model-sha256", sha] + (["--cache", str(cache)] if cache else [])
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - t
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quant", default="Q4_K_M")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--model-sha256", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    from alignmenter_edge.bundle import sha256_file

    model = WORK / f"qwen3-1.7b-random-{args.quant.lower()}.gguf"
    if not model.exists():
        raise SystemExit(f"{model} is missing: run benchmarks/constitutional_speed.py prepare first.")
    sha = sha256_file(model)
    cache = Path(tempfile.mkdtemp(prefix="prefix-states-", dir=WORK))
    load_before = os.getloadavg()
    try:
        runs = {"no state cache": _start(args, None, sha), "first start (evaluate, save)": _start(args, cache, sha)}
        state_bytes = sum(p.stat().st_size for p in cache.glob("*.state"))
        restarts = [_start(args, cache, sha) for _ in range(args.restarts)]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    assert all(r["prefix"] == "restored from disk" for r in restarts), [r["prefix"] for r in restarts]
    scores = {r["score"] for r in [runs["first start (evaluate, save)"], *restarts]}
    runs["restart (restore), median"] = min(restarts, key=lambda r: abs(
        r["first_score_s"] - statistics.median(x["first_score_s"] for x in restarts)))
    report = {
        "benchmark": "constitutional-gguf cold start, Qwen3-1.7B shape with random weights",
        "machine": {"cpu": _cpu_name(), "threads": args.threads, "loadavg_before": load_before,
                    "loadavg_after": os.getloadavg(), "llama_cpp_python": _version("llama-cpp-python")},
        "quant": args.quant, "model_bytes": model.stat().st_size, "state_bytes": state_bytes,
        "same_score_every_start": len(scores) == 1, "runs": runs, "restarts": restarts,
        "command": "flock /tmp/alignmenter-bench.lock python benchmarks/constitutional_cold_start.py "
                   + " ".join(sys.argv[1:]),
    }
    write_report("constitutional_cold_start", report, markdown(report))


def markdown(report: dict) -> str:
    first = report["runs"]["first start (evaluate, save)"]
    lines = [f"{report['quant']} ({report['model_bytes'] / 1e9:.2f} GB), {first['prefix_tokens']}-token "
             f"constitution prefix, {report['machine']['threads']} threads on {report['machine']['cpu']}; "
             f"saved state {report['state_bytes'] / 1e6:.0f} MB; same score on every start: "
             f"{'yes' if report['same_score_every_start'] else 'NO'}.", "",
             "| start | prefix | prefix ready (s) | first score (s, from process start) | process wall (s) | peak RSS |",
             "|---|---|---|---|---|---|"]
    for name, r in report["runs"].items():
        lines.append(f"| {name} | {r['prefix']} | {r['prefix_s']:.2f} | {r['first_score_s']:.2f} | "
                     f"{r['process_wall_s']:.2f} | {r['peak_rss_gb']:.2f} GB |")
    times = ", ".join(f"{r['first_score_s']:.2f}" for r in report["restarts"])
    lines += ["", f"Restarts, first score at: {times} s."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
