"""Build the real-shape RoBERTa benchmark inputs (cached under benchmarks/work/, git-ignored).

1. A local HF directory with distilroberta's shape (6 layers, hidden 768, 12 heads, vocab 50265,
   514 positions), random weights, and a 50265-entry ByteLevel BPE tokenizer trained here on the
   texts of ``--data`` that the speed benchmark does *not* score, plus generated pseudo-words
   (there are not enough distinct words in the data to reach 50265 entries otherwise).
2. Two bundles through the real CLI: ``alignmenter-edge export roberta SRC -o DIR`` (int8) and
   ``--quantize none`` (fp32).

    python benchmarks/roberta_real_shape.py [--data /work/shared/data] [--work benchmarks/work/roberta]

The first call trains the tokenizer, writes the random model and exports both bundles (it prints
how long the model took; no build time is recorded in benchmarks/results/); later calls reuse
benchmarks/work/roberta/.

Speed does not depend on weight values; int8 *accuracy* on random weights is meaningless (the
manifest's int8 parity for this bundle is recorded but not a quality claim).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import generated_texts, read_texts  # noqa: E402

DEFAULT_WORK = HERE / "work" / "roberta"
DEFAULT_DATA = Path("/work/shared/data")
BENCH_SEED = 1234
BENCH_TEXTS = 300


def load_texts(data: Path | None) -> list[str]:
    """All texts of ``data/*.jsonl`` in a fixed order (empty list when absent)."""
    return read_texts(data)


def split_texts(texts: list[str], count: int = BENCH_TEXTS) -> tuple[list[str], list[str]]:
    """(benchmark sample, the rest) with a fixed seed; the tokenizer trains on the rest only."""
    order = list(range(len(texts)))
    random.Random(BENCH_SEED).shuffle(order)
    chosen = set(order[:count])
    return ([texts[i] for i in order[:count]], [t for i, t in enumerate(texts) if i not in chosen])


def bench_texts(data: Path | None, max_words: int | None = None) -> tuple[list[str], str]:
    """The texts the RoBERTa benchmarks score, and where they came from: the sample of
    ``split_texts`` (held out from the tokenizer's training), with ``max_words`` only its texts of
    at most that many words. Split first, then filter: filtering first drew a short-turn sample
    of which 257 of 300 texts were in the tokenizer's training corpus. Without data, generated
    texts."""
    all_texts = load_texts(data)
    if not all_texts:
        texts = generated_texts(BENCH_TEXTS, BENCH_SEED)
        if max_words:
            texts = [t for t in texts if len(t.split()) <= max_words]
        return texts, f"{len(texts)} generated texts (no data directory)"
    sample, _ = split_texts(all_texts)
    source = f"{len(sample)} texts held out from the tokenizer's training (seed {BENCH_SEED}) of {data}/*.jsonl"
    if max_words:
        sample = [t for t in sample if len(t.split()) <= max_words]
        source = f"the {len(sample)} texts of at most {max_words} words among " + source
    return sample, source


def pseudo_words(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    onsets = "b c d f g h j k l m n p r s t v w z br cr dr fl gr pl pr sh st th tr".split()
    vowels = "a e i o u ai ea ee oo ou".split()
    codas = ["", "n", "r", "s", "t", "l", "m", "nd", "st", "ck"]
    return ["".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
                    for _ in range(rng.randint(2, 4))) for _ in range(count)]


def build(work: Path, data: Path | None, force: bool = False) -> dict[str, Path]:
    hf, int8, fp32 = work / "hf", work / "bundle-int8", work / "bundle-fp32"
    if force or not (hf / "model.safetensors").is_file():
        from alignmenter_edge.export.roberta_synthetic import build_real_shape_roberta

        _, rest = split_texts(load_texts(data))
        corpus = rest or generated_texts(3000, seed=99)
        words = pseudo_words(120_000)
        corpus = corpus * 3 + [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]
        start = time.perf_counter()
        build_real_shape_roberta(hf, corpus)
        print(f"built {hf} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    for out, quantize in ((int8, "int8"), (fp32, "none")):
        if force or not (out / "manifest.json").is_file():
            subprocess.run([sys.executable, "-m", "alignmenter_edge.cli", "export", "roberta", str(hf),
                            "-o", str(out), "--quantize", quantize, "--force",
                            "--model-id", f"random-real-shape-roberta-{quantize}"], check=True)
    return {"hf": hf, "int8": int8, "fp32": fp32}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--force", action="store_true", help="rebuild even when cached")
    args = parser.parse_args()
    for name, path in build(args.work, args.data, args.force).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
