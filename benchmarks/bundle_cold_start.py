"""Cold start of any bundle: process start to first score, by how the bundle's files are checked.

    flock /tmp/alignmenter-bench.lock python benchmarks/bundle_cold_start.py BUNDLE [--starts 5]

Each start is a fresh process with one private ALIGNMENTER_EDGE_HOME (so it neither reads nor
writes the user's), scoring one short text with ``verify="full"`` (every file hashed),
``verify=True`` after one priming start (files unchanged since hashed: stamps, no hashing) and
``verify=False`` (sizes only). For constitutional bundles the saved prefix is restored in all
three after the priming start; benchmarks/constitutional_cold_start.py covers that tier in full.
Writes benchmarks/results/bundle_cold_start_<model id>.json (``--result NAME`` to name it).
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODES = {"full": "full", "stamps": True, "sizes only": False}


def worker(bundle: str, verify: str, threads: int) -> None:
    sys.path.insert(0, str(ROOT))
    from alignmenter_edge.registry import load_classifier

    with load_classifier(bundle, threads=threads, verify=MODES[verify]) as clf:
        clf("How do I reset my router password?")
        first = time.perf_counter() - START
        model_id = clf.info.model_id
    print(json.dumps({"first_score_s": first, "model_id": model_id}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--starts", type=int, default=5, help="starts per mode; the median counts")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--result", help="results/NAME.json (default bundle_cold_start_<model id>)")
    parser.add_argument("--worker", metavar="VERIFY", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(str(args.bundle), args.worker, args.threads)
        return
    home = Path(tempfile.mkdtemp(prefix="edge-home-"))
    env = {**os.environ, "ALIGNMENTER_EDGE_HOME": str(home)}

    def start(mode: str) -> dict:
        cmd = [sys.executable, __file__, str(args.bundle), "--worker", mode, "--threads", str(args.threads)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        return json.loads(out.strip().splitlines()[-1])

    try:
        start("stamps")  # priming: hashes every file and records the stamps (and any saved prefix)
        times = {mode: [start(mode)["first_score_s"] for _ in range(args.starts)] for mode in MODES}
        model_id = start("stamps")["model_id"]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    sys.path.insert(0, str(ROOT))
    from benchmarks.common import write_result

    size = sum(p.stat().st_size for p in args.bundle.iterdir() if p.is_file())
    result = {"bundle": str(args.bundle), "model_id": model_id, "bundle_bytes": size, "threads": args.threads,
              "first_score_s": {mode: {"median": statistics.median(t), "all": t} for mode, t in times.items()}}
    print(write_result(args.result or f"bundle_cold_start_{model_id}", result))
    for mode, t in times.items():
        print(f"verify={MODES[mode]!r:7} median {statistics.median(t):.3f} s  ({', '.join(f'{x:.2f}' for x in t)})")


if __name__ == "__main__":
    main()
