"""Lexicon tier speed per data set, in CPU seconds (steadier than wall time on a shared machine),
optionally against another lexicon file measured interleaved in the same process.

    python benchmarks/lexicon_speed.py [--data ../shared/data] [--against OLD.txt | --against-commit REV]
                                       [--repeats 7]

``--against OLD.txt`` prices a change of the lexicon file alone (same scoring code), e.g. with
``git show v2-commit:alignmenter_edge/data/lexicon.txt > /tmp/old.txt``; ``--against-commit REV``
prices code and file together: that commit's scorer and lexicon, imported from a temporary copy.
Writes benchmarks/results/lexicon_speed.json.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import write_result  # noqa: E402
from alignmenter_edge.tiers.lexicon import LEXICON_VERSION, LexiconScorer, load_lexicon  # noqa: E402


def scorer_at_commit(rev: str):
    """The LexiconScorer of commit ``rev``, from a copy of its package under another name."""
    copy = Path(tempfile.mkdtemp(prefix="lexicon-speed-"))
    atexit.register(shutil.rmtree, copy, ignore_errors=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "alignmenter_edge"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(copy)], input=archive, check=True)
    (copy / "alignmenter_edge").rename(copy / "alignmenter_edge_then")
    sys.path.insert(0, str(copy))
    then = importlib.import_module("alignmenter_edge_then.tiers.lexicon")
    lexicon = copy / "alignmenter_edge_then" / "data" / then.DEFAULT_LEXICON
    return then.LexiconScorer(then.load_lexicon(lexicon))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    other = parser.add_mutually_exclusive_group()
    other.add_argument("--against", type=Path, help="another lexicon file, timed interleaved")
    other.add_argument("--against-commit", metavar="REV", help="another commit's scorer and lexicon")
    parser.add_argument("--repeats", type=int, default=7, help="passes per set; the fastest counts")
    args = parser.parse_args()
    if not args.data.is_dir():
        parser.error(f"{args.data}: no such directory; pass --data DIR with the *.jsonl sets.")
    scorers = {f"bundled (version {LEXICON_VERSION})": LexiconScorer(load_lexicon())}
    if args.against:
        scorers[str(args.against)] = LexiconScorer(load_lexicon(args.against))
    if args.against_commit:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", args.against_commit],
                                check=True, capture_output=True, text=True).stdout.strip()
        scorers[f"commit {commit}"] = scorer_at_commit(commit)
    results = {}
    for path in sorted(args.data.glob("*.jsonl")):
        texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        best = dict.fromkeys(scorers, float("inf"))
        for _ in range(args.repeats):
            for name, scorer in scorers.items():
                started = time.process_time()
                for text in texts:
                    scorer.score(text)
                best[name] = min(best[name], time.process_time() - started)
        results[path.stem] = {name: round(len(texts) / seconds) for name, seconds in best.items()}
        print(path.stem, results[path.stem], file=sys.stderr)
    print(write_result("lexicon_speed", {"unit": "texts per CPU second, fastest of the passes",
                                         "repeats": args.repeats,
                                         "texts_per_cpu_second": results}))


if __name__ == "__main__":
    main()
