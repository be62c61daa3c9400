"""Cold start of the constitutional-gguf tier: time to the first score through
``load_classifier`` on a bundle, with and without what a first start leaves in the data home: the
constitution's evaluated prefix (alignmenter_edge/tiers/prefix_state.py) and the stamps of files
already hashed in full (alignmenter_edge/verified.py).

Uses the random full-size Qwen3-1.7B GGUFs and the ~1.5k-token constitution that
``benchmarks/constitutional_speed.py prepare`` writes under benchmarks/work/constitutional/, made
into a bundle there (the GGUF hard-linked). Every start is a fresh process with its own empty
ALIGNMENTER_EDGE_HOME unless it is a restart. Clocks per start: ``first_score_from_spawn_s``,
taken by this process right before it spawns the child and stopped when it reads the line the
child prints after its first score (interpreter start-up and every import included);
``first_score_in_process_s`` and ``ready_in_process_s``, the child's own clock from the top of
this script (interpreter start-up not included; results before the from-spawn clock recorded
them as ``first_score_s`` and ``ready_s``); ``prefix_s``, the tier's own time to evaluate or
restore the prefix (a part of the time to ready); ``process_wall_s``, spawn to exit.

1. no data home use - ``prefix_state_cache=False, verify="full"``: hash, evaluate, score;
2. first start      - empty data home: hash (stamps recorded), evaluate (state saved), score;
3. restart (x3)     - same data home: bundle files and saved state checked by their stamps
                      (the state is hashed once, by the first restart: the first start wrote it
                      and it had no stamp yet), probe item, restored;
4. restart, ``verify="full"`` - as 3, but every bundle file and the saved state hashed again
                      (what the stamps save).

    flock /tmp/alignmenter-bench.lock python benchmarks/constitutional_speed.py prepare --data /work/shared/data
    flock /tmp/alignmenter-bench.lock python benchmarks/constitutional_cold_start.py [--quant Q4_K_M]
        [--restarts 3] [--result NAME] [--note TEXT]

Results: benchmarks/results/NAME.json and .md (``--result NAME``, default constitutional_cold_start).
"""

from __future__ import annotations

import time

START = time.perf_counter()  # before every import but this one: the in-process clock starts here

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alignmenter_edge.verified import RACY_SECONDS  # noqa: E402
from benchmarks.common import (add_note_argument, cpu_model, peak_rss_mib, run_child_timed,  # noqa: E402
                               signal_ready, write_report)
from benchmarks.constitutional_speed import WORK, _version  # noqa: E402

ITEM = "Could you explain how the water cycle works and why it matters for farming?"


def make_bundle(quant: str) -> Path:
    """A constitutional-gguf bundle of the prepared random model (hard-linked, not copied)."""
    from tokenizers import Tokenizer

    from alignmenter_edge.bundle import is_bundle_dir, write_bundle
    from alignmenter_edge.models import load_spec

    bundle = WORK / f"bundle-{quant.lower()}"
    if is_bundle_dir(bundle):
        return bundle
    model = WORK / f"qwen3-1.7b-random-{quant.lower()}.gguf"
    if not model.exists():
        raise SystemExit(f"{model} is missing: run benchmarks/constitutional_speed.py prepare first.")
    bundle.mkdir(parents=True, exist_ok=True)
    for source, name in ((model, "model.gguf"), (WORK / "tokenizer" / "tokenizer.json", "tokenizer.json")):
        if not (bundle / name).exists():
            os.link(source, bundle / name)
    tokenizer = Tokenizer.from_file(str(bundle / "tokenizer.json"))
    spec = load_spec("constitutional-safety-classifier")
    write_bundle(
        bundle, ["model.gguf", "tokenizer.json"], tier="constitutional-gguf",
        model_id=f"random-real-shape-qwen3-1.7b-{quant.lower()}",
        sources=[{"role": "base", "id": "random weights, Qwen3-1.7B shape "
                  "(benchmarks/constitutional_speed.py prepare)", "revision": None}],
        labels={word: {"word": word, "token_id": tokenizer.token_to_id(word)} for word in ("safe", "unsafe")},
        max_input_tokens=512, long_input_policy="window-min", quantization=quant, tokenizer="tokenizer.json",
        prompt={"template": spec["prompt"]["template"],
                "constitution": (WORK / "constitution.md").read_text(encoding="utf-8")},
        parity={"note": "random weights: speed only, no parity measured"}, extra={"window_stride": 384})
    time.sleep(RACY_SECONDS)  # the new links changed the files' ctime: let it age past the racy window
    return bundle


def worker(args: argparse.Namespace) -> None:
    from alignmenter_edge.registry import load_classifier

    imported = time.perf_counter()
    options = {} if args.use_home else {"prefix_state_cache": False, "verify": "full"}
    if args.full_verify:
        options["verify"] = "full"
    with load_classifier(args.bundle, threads=args.threads, **options) as clf:
        ready = time.perf_counter()
        score = clf(ITEM)
        done = time.perf_counter()
        signal_ready()
        details = clf.info.details
    print(json.dumps({
        "prefix": details["prefix"], "prefix_tokens": details["prefix_tokens"], "n_batch": details["n_batch"],
        "score": score,
        "import_in_process_s": imported - START, "prefix_s": details["prefix_seconds"],
        "ready_in_process_s": ready - START, "first_score_in_process_s": done - START,
        "peak_rss_gib": peak_rss_mib() / 1024,
    }))


def _start(args: argparse.Namespace, bundle: Path, home: Path | None, full_verify: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--bundle", str(bundle), "--threads", str(args.threads)]
    if full_verify:
        cmd.append("--full-verify")
    env = dict(os.environ)
    if home is not None:
        cmd.append("--use-home")
        env["ALIGNMENTER_EDGE_HOME"] = str(home)
    result = run_child_timed(cmd, env=env)
    result["first_score_from_spawn_s"] = result.pop("from_spawn_s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quant", default="Q4_K_M")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--result", default="constitutional_cold_start",
                        help="results/NAME.json and .md (name other machines' runs)")
    add_note_argument(parser)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bundle", help=argparse.SUPPRESS)
    parser.add_argument("--use-home", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--full-verify", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    bundle = make_bundle(args.quant)
    model = bundle / "model.gguf"
    home = Path(tempfile.mkdtemp(prefix="edge-home-", dir=WORK))
    load_before = os.getloadavg()
    try:
        runs = {"no data home use (hash, evaluate)": _start(args, bundle, None),
                "first start (hash, evaluate, save)": _start(args, bundle, home)}
        state_bytes = sum(p.stat().st_size for p in home.glob("cache/prefix-states/*.state"))
        restarts = [_start(args, bundle, home) for _ in range(args.restarts)]
        full = _start(args, bundle, home, full_verify=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert all(r["prefix"] == "restored from disk" for r in restarts), [r["prefix"] for r in restarts]
    scores = {r["score"] for r in [*runs.values(), *restarts, full]}
    median = statistics.median(x["first_score_from_spawn_s"] for x in restarts)
    runs["restart (restore), median"] = min(restarts, key=lambda r: abs(r["first_score_from_spawn_s"] - median))
    runs['restart, verify="full" (bundle hashed again)'] = full
    first_start = runs["first start (hash, evaluate, save)"]
    report = {
        "benchmark": "constitutional-gguf cold start, Qwen3-1.7B shape with random weights",
        "machine": {"threads": args.threads, "loadavg_before": list(load_before),
                    "loadavg_after": list(os.getloadavg()), "llama_cpp_python": _version("llama-cpp-python")},
        "quant": args.quant, "n_batch": first_start["n_batch"], "model_bytes": model.stat().st_size,
        "state_bytes": state_bytes,
        "units": {"peak_rss_gib": "GiB (2**30 bytes)", "model_bytes": "bytes"},
        "same_score_every_start": len(scores) == 1, "runs": runs, "restarts": restarts,
    }
    write_report(args.result, report, markdown(report), note=args.note)


def markdown(report: dict) -> str:
    from benchmarks.common import gib_to_gb

    first = report["runs"]["first start (hash, evaluate, save)"]
    lines = [f"{report['quant']} ({report['model_bytes'] / 1e9:.2f} GB), {first['prefix_tokens']}-token "
             f"constitution prefix, {report['machine']['threads']} threads on {cpu_model()}, "
             f"{report['n_batch']} tokens per llama_decode call; "
             f"saved state {report['state_bytes'] / 1e6:.0f} MB; same score on every start: "
             f"{'yes' if report['same_score_every_start'] else 'NO'}.", "",
             "| start | prefix | prefix evaluated or restored (s) | ready, in-process (s) "
             "| first score, in-process (s) | first score from spawn (s) | process wall, spawn to exit (s) "
             "| peak RSS (GiB) | = GB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in report["runs"].items():
        lines.append(f"| {name} | {r['prefix']} | {r['prefix_s']:.2f} | {r['ready_in_process_s']:.2f} | "
                     f"{r['first_score_in_process_s']:.2f} | {r['first_score_from_spawn_s']:.2f} | "
                     f"{r['process_wall_s']:.2f} | {r['peak_rss_gib']:.3f} | {gib_to_gb(r['peak_rss_gib']):.3f} |")
    times = ", ".join(f"{r['first_score_from_spawn_s']:.2f}" for r in report["restarts"])
    lines += ["", f"Restarts, first score from spawn at: {times} s. In-process clocks start at the top of "
                  "the benchmark script, after interpreter start-up; from spawn includes it."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
