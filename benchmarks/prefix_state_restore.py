"""What restoring the constitutional tier's saved prefix costs, by ``verify`` mode.

    flock /tmp/alignmenter-bench.lock python benchmarks/prefix_state_restore.py [--bundle DIR] [--rounds 8]

One process with a private ALIGNMENTER_EDGE_HOME loads the bundle (default: the real-shape Q4_K_M
bundle that benchmarks/constitutional_cold_start.py makes under benchmarks/work/constitutional/),
which evaluates the constitution and saves its state; after the racy window one restore hashes
and stamps the state file. Then ``PrefixStateCache.restore`` runs ``--rounds`` times per mode,
the modes alternating on the same llama.cpp session: ``True`` (sha256 from the verified-file
stamps), ``"full"`` (hashed every time) and ``False`` (the stamps too, like ``True``: this
cache is checked even when the bundle's files are not). Each restore reads the state
back and scores the probe item; the hashes of the state file are counted. sha256_file of the
state alone is timed too. End-to-end restarts: benchmarks/constitutional_cold_start.py and
benchmarks/bundle_cold_start.py. Writes benchmarks/results/prefix_state_restore.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "benchmarks" / "work" / "constitutional" / "bundle-q4_k_m"
MODES = {"stamps": True, "full": "full", "no hash": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--note", help="free text recorded as the result's 'note' (nothing when absent)")
    args = parser.parse_args()
    if not (args.bundle / "manifest.json").is_file():
        raise SystemExit(f"{args.bundle} is not a bundle: run benchmarks/constitutional_cold_start.py first.")
    home = Path(tempfile.mkdtemp(prefix="edge-home-restore-"))
    os.environ["ALIGNMENTER_EDGE_HOME"] = str(home)
    sys.path.insert(0, str(ROOT))
    import alignmenter_edge.tiers.prefix_state as prefix_state
    from alignmenter_edge.bundle import sha256_file
    from alignmenter_edge.registry import load_classifier
    from alignmenter_edge.verified import RACY_SECONDS
    from benchmarks.common import write_result

    hashed: list[str] = []
    prefix_state.sha256_file = lambda path: hashed.append(Path(path).name) or sha256_file(path)
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    hashes = dict.fromkeys(MODES, 0)
    try:
        with load_classifier(str(args.bundle), threads=args.threads) as clf:
            details = clf.info.details
            assert details["prefix"] == "evaluated, saved to disk", details["prefix"]
            directory = Path(details["prefix_state_cache"])
            (state,) = directory.glob("*.state")
            state_bytes = state.stat().st_size
            scorer = clf.scorer
            prefix = list(scorer.layout.prefix_ids)

            def restore(verify: bool | str) -> bool:
                cache = prefix_state.PrefixStateCache(directory, verify=verify)
                return cache.restore(scorer.session, state.stem, prefix, scorer._probe_logits)

            time.sleep(RACY_SECONDS + 0.5)
            assert restore(True)  # hashes the state once and stamps it
            hash_alone = []
            for _ in range(5):
                started = time.perf_counter()
                sha256_file(state)
                hash_alone.append(time.perf_counter() - started)
            for _ in range(args.rounds):
                for mode, verify in MODES.items():
                    before = len(hashed)
                    started = time.perf_counter()
                    assert restore(verify), mode
                    times[mode].append(time.perf_counter() - started)
                    hashes[mode] += len(hashed) - before
    finally:
        shutil.rmtree(home, ignore_errors=True)
    result = {
        "bundle": str(args.bundle), "threads": args.threads, "rounds": args.rounds, "state_bytes": state_bytes,
        "sha256_file_state_s": {"median": statistics.median(hash_alone), "all": hash_alone},
        "restore_s": {mode: {"verify": MODES[mode], "median": statistics.median(t), "all": t,
                             "state_hashes": hashes[mode]} for mode, t in times.items()},
    }
    print(write_result("prefix_state_restore", result, note=args.note))
    print(f"state {state_bytes / 1e6:.0f} MB, sha256_file alone: median {statistics.median(hash_alone):.3f} s")
    for mode, t in times.items():
        print(f"restore verify={MODES[mode]!r:7} median {statistics.median(t):.3f} s over {len(t)} "
              f"({hashes[mode]} hashes of the state)")


if __name__ == "__main__":
    main()
