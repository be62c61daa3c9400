"""Cold start of any bundle: from spawning a fresh Python process to its first score, by how the
bundle's files are checked.

    flock /tmp/alignmenter-bench.lock python benchmarks/bundle_cold_start.py BUNDLE [--starts 5]
        [--result NAME] [--note TEXT]

Each start is a fresh process with one private ALIGNMENTER_EDGE_HOME (so it neither reads nor
writes the user's), scoring one short text with ``verify="full"`` (every file hashed),
``verify=True`` after one priming start (files unchanged since hashed: stamps, no hashing) and
``verify=False`` (sizes only). For constitutional bundles the saved prefix is restored in all
three after the priming start; benchmarks/constitutional_cold_start.py covers that tier in full.

Two clocks per start: ``first_score_from_spawn_s``, taken by this process right before it spawns
the child and stopped when it reads the line the child prints after its first score (interpreter
start-up and every import included: what a user waits for), and ``first_score_in_process_s``,
the child's own clock from the top of this script (interpreter start-up not included; what
results before the from-spawn clock recorded as ``first_score_s``). The goal is judged on the
first. Writes benchmarks/results/bundle_cold_start_<model id>.json (``--result NAME`` to name it).
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODES = {"full": "full", "stamps": True, "sizes only": False}


def worker(bundle: str, verify: str, threads: int) -> None:
    sys.path.insert(0, str(ROOT))
    from alignmenter_edge.registry import load_classifier
    from benchmarks.common import signal_ready

    with load_classifier(bundle, threads=threads, verify=MODES[verify]) as clf:
        clf("How do I reset my router password?")
        first = time.perf_counter() - START
        signal_ready()
        model_id = clf.info.model_id
    print(json.dumps({"first_score_in_process_s": first, "model_id": model_id}))


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.common import add_note_argument, run_child_timed, write_result

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--starts", type=int, default=5, help="starts per mode; the median counts")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--result", help="results/NAME.json (default bundle_cold_start_<model id>)")
    add_note_argument(parser)
    parser.add_argument("--worker", metavar="VERIFY", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(str(args.bundle), args.worker, args.threads)
        return
    home = Path(tempfile.mkdtemp(prefix="edge-home-"))
    env = {**os.environ, "ALIGNMENTER_EDGE_HOME": str(home)}

    def start(mode: str) -> dict:
        return run_child_timed([sys.executable, __file__, str(args.bundle), "--worker", mode,
                                "--threads", str(args.threads)], env=env)

    try:
        start("stamps")  # priming: hashes every file and records the stamps (and any saved prefix)
        starts = {mode: [start(mode) for _ in range(args.starts)] for mode in MODES}
        model_id = start("stamps")["model_id"]
    finally:
        shutil.rmtree(home, ignore_errors=True)

    def clock(field: str) -> dict:
        return {mode: {"median": statistics.median(r[field] for r in runs), "all": [r[field] for r in runs]}
                for mode, runs in starts.items()}

    size = sum(p.stat().st_size for p in args.bundle.iterdir() if p.is_file())
    result = {"bundle": str(args.bundle), "model_id": model_id, "bundle_bytes": size, "threads": args.threads,
              "goal": "first score <= 0.3 s from spawn (RoBERTa tier)",
              "first_score_from_spawn_s": clock("from_spawn_s"),
              "first_score_in_process_s": clock("first_score_in_process_s"),
              "process_wall_s": clock("process_wall_s")}
    print(write_result(args.result or f"bundle_cold_start_{model_id}", result, note=args.note))
    for mode in MODES:
        spawn, inside = result["first_score_from_spawn_s"][mode], result["first_score_in_process_s"][mode]
        print(f"verify={MODES[mode]!r:7} from spawn: median {spawn['median']:.3f} s "
              f"({', '.join(f'{x:.3f}' for x in spawn['all'])}); in-process median {inside['median']:.3f} s")


if __name__ == "__main__":
    main()
