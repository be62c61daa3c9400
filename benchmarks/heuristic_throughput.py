"""Heuristic tier throughput on one core vs alignmenter's own function (goal: >= 1M texts/min).

    python benchmarks/heuristic_throughput.py [--data ../shared/data] [--texts 1000000] [--max-chars 200]
        [--note TEXT]

Texts: the pool of ``--data``, only its texts of at most ``--max-chars`` characters (default 200:
chat-turn length; the result records how many were kept), cycled to ``--texts``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alignmenter_edge import load_classifier  # noqa: E402
from benchmarks.common import add_note_argument, load_texts, write_result  # noqa: E402


def best_rate(func, texts: list[str], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        func(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--texts", type=int, default=1_000_000)
    parser.add_argument("--max-chars", type=int, default=200, help="only pool texts of at most this many "
                        "characters (0: all)")
    add_note_argument(parser)
    args = parser.parse_args()
    pool, source = load_texts(args.data)
    short = [t for t in pool if not args.max_chars or len(t) <= args.max_chars] or pool
    texts = (short * (args.texts // len(short) + 1))[: args.texts]
    clf = load_classifier("heuristic")
    ours = best_rate(clf.score_batch, texts)
    result = {"texts": len(texts), "text_source": source, "max_chars": args.max_chars or None,
              "pool_texts": len(pool), "pool_texts_kept": len(short),
              "mean_chars": sum(map(len, texts)) / len(texts),
              "threads": 1, "texts_per_s": round(ours), "texts_per_min": round(ours * 60),
              "goal_texts_per_min": 1_000_000}
    try:
        from alignmenter.providers.classifiers import _heuristic_classifier
    except ImportError:
        pass
    else:
        ref = best_rate(lambda ts: [_heuristic_classifier(t) for t in ts], texts)
        result["alignmenter_0_3_5_texts_per_s"] = round(ref)
    path = write_result("heuristic", result, note=args.note)
    print(path.read_text())


if __name__ == "__main__":
    main()
