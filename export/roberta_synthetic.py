"""Synthetic RoBERTa sources for tests and benchmarks: no hub, no downloaded weights.

Builds a Hugging Face model directory (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json) that ``export_roberta`` reads exactly like a real fine-tune:

* a ByteLevel BPE tokenizer trained locally with ``tokenizers`` (RoBERTa's special tokens at
  RoBERTa's ids: ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, ``<mask>`` 4);
* a ``RobertaForSequenceClassification`` with the real architecture (any size);
* optionally a brief training run on a keyword task (:func:`synthetic_safety_texts`) so that its
  predictions are confident, which is what quantization accuracy should be measured on.

Needs the ``[export]`` extra (torch, transformers, tokenizers).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Iterable, Sequence

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
LABEL_NAMES = ("SAFE", "UNSAFE")  # synthetic models: index 1 means unsafe

SAFE_KEYWORDS = (
    "weather", "recipe", "garden", "python", "install", "music", "travel", "book", "coffee",
    "school", "family", "happy", "learn", "bicycle", "painting", "holiday", "soup", "library",
    "puzzle", "museum", "piano", "homework", "birthday", "forest",
)
UNSAFE_KEYWORDS = (
    "bomb", "kill", "weapon", "poison", "explosive", "steal", "murder", "hurt", "ransomware",
    "overdose", "stab", "kidnap", "arson", "smuggle", "shoot", "torture", "strangle", "detonate",
    "blackmail", "launder", "nerve-agent", "massacre", "extort", "assault",
)
FILLER = (
    "the a an how do i to make my with for and can you please tell me about what is it this that "
    "some any way best quick easy good new old people friend today tomorrow really very much more "
    "help show explain write give list find need want would could should where when why which who "
    "in on at from into over under after before during between without again also just only"
).split()


def synthetic_safety_texts(count: int, seed: int, *, min_words: int = 3, max_words: int = 24,
                           long_fraction: float = 0.0, long_words: int = 200) -> list[tuple[str, int]]:
    """``count`` (text, label) pairs: label 1 iff the text holds an unsafe keyword.

    Safe texts carry a safe keyword instead; filler words surround it. Half of the pairs are
    unsafe, alternating. ``long_fraction`` of the texts get up to ``long_words`` words, so a
    model trained on them also finds one keyword inside a long window.
    """
    rng = random.Random(seed)
    pairs = []
    for i in range(count):
        label = i % 2
        top = long_words if rng.random() < long_fraction else max_words
        words = [rng.choice(FILLER) for _ in range(rng.randint(min_words, top))]
        key = rng.choice(UNSAFE_KEYWORDS if label else SAFE_KEYWORDS)
        words.insert(rng.randrange(len(words) + 1), key)
        if rng.random() < 0.3:
            words[0] = words[0].capitalize()
        pairs.append((" ".join(words) + rng.choice(("", "?", ".", "!")), label))
    return pairs


def train_bytelevel_tokenizer(texts: Iterable[str], vocab_size: int, directory: str | Path,
                              *, model_max_length: int = 512) -> Path:
    """Train a ByteLevel BPE tokenizer with RoBERTa's specials; write tokenizer.json + config."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=1,
                                  show_progress=False, special_tokens=list(SPECIAL_TOKENS))
    tokenizer.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer.save(str(directory / "tokenizer.json"))
    config = {
        "tokenizer_class": "RobertaTokenizer", "model_max_length": model_max_length,
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
        "mask_token": "<mask>", "cls_token": "<s>", "sep_token": "</s>", "add_prefix_space": False,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return directory / "tokenizer.json"


def random_roberta(directory: str | Path, *, vocab_size: int, layers: int, hidden: int,
                   heads: int, intermediate: int, max_positions: int = 514, seed: int = 0,
                   label_names: Sequence[str] = LABEL_NAMES):
    """A random-init RobertaForSequenceClassification with the real architecture (returned in eval)."""
    import torch
    from transformers import RobertaConfig, RobertaForSequenceClassification

    config = RobertaConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=intermediate,
        max_position_embeddings=max_positions, type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
    )
    torch.manual_seed(seed)
    model = RobertaForSequenceClassification(config).eval()
    Path(directory).mkdir(parents=True, exist_ok=True)
    return model


def train_keyword_task(model, tokenizer_file: str | Path, pairs: Sequence[tuple[str, int]], *,
                       steps: int, batch_size: int = 32, lr: float = 3e-3, seed: int = 0,
                       max_length: int = 512, threads: int = 1) -> float:
    """Briefly fine-tune ``model`` on (text, label) pairs; returns the last batch's loss.

    One torch thread by default: these models are tiny, and on a loaded 2-core machine two
    spinning threads made training ~20x slower (measured 61 s vs 3.3 s for 20 steps).
    """
    import torch
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=1, pad_token="<pad>")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _train_steps(model, tokenizer, pairs, steps, batch_size, lr, rng, torch)
    finally:
        torch.set_num_threads(previous_threads)


def _train_steps(model, tokenizer, pairs, steps, batch_size, lr, rng, torch) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    loss_value = float("nan")
    order = list(range(len(pairs)))
    for step in range(steps):
        if step % max(1, len(order) // batch_size) == 0:
            rng.shuffle(order)
        start = (step * batch_size) % max(1, len(order) - batch_size + 1)
        batch = [pairs[i] for i in order[start:start + batch_size]]
        encodings = tokenizer.encode_batch([text for text, _ in batch])
        ids = torch.tensor([e.ids for e in encodings])
        mask = torch.tensor([e.attention_mask for e in encodings])
        labels = torch.tensor([label for _, label in batch])
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        loss_value = float(out.loss.detach())
    model.eval()
    return loss_value


SYNTHETIC_CARD = """---
license: apache-2.0
tags:
- alignmenter-edge-synthetic
---
# Synthetic model (not a real safety classifier)

Built by alignmenter-edge for tests and benchmarks: the real architecture with random or briefly
trained weights. Its scores mean nothing outside those tests.
"""


def write_synthetic_card(directory: str | Path) -> None:
    """A model card like the hub's, so exports read a stated licence as they would for a real model."""
    (Path(directory) / "README.md").write_text(SYNTHETIC_CARD, encoding="utf-8")


def save_hf_directory(model, directory: str | Path) -> Path:
    """Write the model next to its tokenizer files and a model card, as a local HF directory."""
    directory = Path(directory)
    model.save_pretrained(directory)
    write_synthetic_card(directory)
    return directory


def build_tiny_trained_roberta(directory: str | Path, *, seed: int = 0, steps: int = 80,
                               layers: int = 2, hidden: int = 64, heads: int = 4) -> Path:
    """The test model: tiny real-architecture RoBERTa, trained on the keyword task (~10 s)."""
    directory = Path(directory)
    corpus = [text for text, _ in synthetic_safety_texts(3000, seed + 100, long_fraction=0.1)]
    tokenizer_file = train_bytelevel_tokenizer(corpus, 600, directory)
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tokenizer_file)).get_vocab_size()
    model = random_roberta(directory, vocab_size=vocab, layers=layers, hidden=hidden, heads=heads,
                           intermediate=hidden * 2, seed=seed)
    pairs = synthetic_safety_texts(4000, seed + 1, long_fraction=0.08, long_words=100)
    train_keyword_task(model, tokenizer_file, pairs, steps=steps, seed=seed)
    return save_hf_directory(model, directory)


def build_real_shape_roberta(directory: str | Path, corpus: Sequence[str], *, seed: int = 0,
                             vocab_size: int = 50265) -> Path:
    """distilroberta's real shape (6 layers, hidden 768, 12 heads, 3072, vocab 50265, 514
    positions) with random weights and a ``vocab_size``-entry tokenizer trained on ``corpus``."""
    from tokenizers import Tokenizer

    directory = Path(directory)
    tokenizer_file = train_bytelevel_tokenizer(corpus, vocab_size, directory)
    trained = Tokenizer.from_file(str(tokenizer_file)).get_vocab_size()
    if trained != vocab_size:
        raise ValueError(f"the tokenizer reached {trained} entries, not {vocab_size}: the corpus "
                         "has too few distinct words; give it more text.")
    model = random_roberta(directory, vocab_size=vocab_size, layers=6, hidden=768, heads=12,
                           intermediate=3072, seed=seed)
    return save_hf_directory(model, directory)
