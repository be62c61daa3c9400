"""Build the real-shape RoBERTa benchmark inputs (cached under benchmarks/work/, git-ignored).

1. A local HF directory with distilroberta's shape (6 layers, hidden 768, 12 heads, vocab 50265,
   514 positions), random weights, and a 50265-entry ByteLevel BPE tokenizer trained here on the
   texts of ``--data`` that the speed benchmark does *not* score, plus generated pseudo-words
   (there are not enough distinct words in the data to reach 50265 entries otherwise).
2. Two bundles through the real CLI: ``alignmenter-edge export roberta SRC -o DIR`` (int8) and
   ``--quantize none`` (fp32).

    python benchmarks/roberta_real_shape.py [--data /work/shared/data] [--work benchmarks/work/roberta]

Speed does not depend on weight values; int8 *accuracy* on random weights is meaningless (the
manifest's int8 parity for this bundle is recorded but not a quality claim).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_WORK = HERE / "work" / "roberta"
DEFAULT_DATA = Path("/work/shared/data")
BENCH_SEED = 1234
BENCH_TEXTS = 300


def load_texts(data: Path | None) -> list[str]:
    """All texts of ``data/*.jsonl`` in a fixed order (empty list when absent)."""
    texts: list[str] = []
    if data and data.is_dir():
        for path in sorted(data.glob("*.jsonl")):
            with open(path, encoding="utf-8") as handle:
                texts.extend(json.loads(line)["text"] for line in handle if line.strip())
    return texts


def split_texts(texts: list[str], count: int = BENCH_TEXTS) -> tuple[list[str], list[str]]:
    """(benchmark sample, the rest) with a fixed seed; the tokenizer trains on the rest only."""
    order = list(range(len(texts)))
    random.Random(BENCH_SEED).shuffle(order)
    chosen = set(order[:count])
    return ([texts[i] for i in order[:count]], [t for i, t in enumerate(texts) if i not in chosen])


def generated_texts(count: int, seed: int = BENCH_SEED) -> list[str]:
    """Fallback prompts with a similar length mix (5 to ~400 words, most under 60)."""
    from alignmenter_edge.export.roberta_synthetic import FILLER, SAFE_KEYWORDS, UNSAFE_KEYWORDS

    rng = random.Random(seed)
    words = FILLER + list(SAFE_KEYWORDS) + list(UNSAFE_KEYWORDS)
    out = []
    for _ in range(count):
        n = int(min(400, max(5, rng.lognormvariate(3.3, 0.9))))
        out.append(" ".join(rng.choice(words) for _ in range(n)))
    return out


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
