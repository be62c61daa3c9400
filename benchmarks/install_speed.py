"""How long ``install`` (copy + sha256 of every copied file + move into place) and ``uninstall`` take.

    flock /tmp/alignmenter-bench.lock python benchmarks/install_speed.py BUNDLE [BUNDLE ...] [--installs 5]

Each bundle is installed ``--installs`` times into one private ALIGNMENTER_EDGE_HOME (a temporary
directory beside the bundle, so the copy stays on the same file system as a real data home would
usually be), each time with ``force=True`` over the previous copy, then uninstalled. The first
install may read the source from disk, later ones from the page cache; every time is recorded.
Writes benchmarks/results/install_speed.json (``--result NAME`` to name it).
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
sys.path.insert(0, str(ROOT))

from benchmarks.common import add_note_argument, write_result  # noqa: E402


def measure(bundle: Path, installs: int) -> dict:
    from alignmenter_edge.install import install_bundle, uninstall_bundle

    home = Path(tempfile.mkdtemp(prefix=".edge-home-", dir=bundle.resolve().parent))
    os.environ["ALIGNMENTER_EDGE_HOME"] = str(home)
    try:
        seconds = []
        for _ in range(installs):
            start = time.perf_counter()
            installed = install_bundle(bundle, "bench", force=True)
            seconds.append(time.perf_counter() - start)
        size = sum(record.size for record in installed.manifest.files.values())
        start = time.perf_counter()
        freed = uninstall_bundle("bench")
        uninstall_s = time.perf_counter() - start
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {"bundle": str(bundle), "tier": installed.manifest.tier, "model_id": installed.manifest.model_id,
            "quantization": installed.manifest.quantization, "bytes": size, "install_s": seconds,
            "median_install_s": statistics.median(seconds),
            "median_mb_per_s": size / 1e6 / statistics.median(seconds),
            "uninstall_s": uninstall_s, "uninstall_freed_bytes": freed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundles", nargs="+", type=Path)
    parser.add_argument("--installs", type=int, default=5, help="installs per bundle (default 5)")
    parser.add_argument("--result", default="install_speed", help="results/NAME.json")
    add_note_argument(parser)
    args = parser.parse_args()
    runs = []
    for bundle in args.bundles:
        run = measure(bundle, args.installs)
        runs.append(run)
        times = ", ".join(f"{s:.2f}" for s in run["install_s"])
        print(f"{run['model_id']} [{run['quantization']}], {run['bytes'] / 1e6:.0f} MB: install {times} s "
              f"(median {run['median_install_s']:.2f} s, {run['median_mb_per_s']:.0f} MB/s); "
              f"uninstall {run['uninstall_s']:.3f} s")
    print(write_result(args.result, {"installs_per_bundle": args.installs, "runs": runs}, note=args.note))


if __name__ == "__main__":
    main()
