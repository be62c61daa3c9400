"""Synthetic Qwen3 models for tests and benchmarks: real architecture, random weights, no network.

* :func:`train_qwen_tokenizer` trains a byte-level BPE with Qwen2/3's pre-tokenizer and special
  tokens on local text and saves it as a Hugging Face tokenizer directory.
* :func:`build_tiny_qwen3` saves a small random ``Qwen3ForCausalLM`` plus a real PEFT LoRA
  adapter with non-zero weights (``save_pretrained``), i.e. the same inputs the export reads for
  ``Qwen/Qwen3-1.7B`` + ``imadreamerboy/constitutional-safety-classifier``.
* :data:`QWEN3_1_7B` is the full-size shape, used by the benchmark to write a random GGUF.

Speed does not depend on weight values, parity does not depend on training: random weights are
enough for both, and nothing here downloads anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from .roberta_synthetic import write_synthetic_card

# Qwen2/Qwen3's pre-tokenizer split (public; identical in the Qwen tokenizer.json).
QWEN_PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
QWEN_THINK_TOKENS = ("<think>", "</think>")

# A compact Jinja chat template that renders exactly like Qwen3's for plain system/user messages,
# including enable_thinking=False (an empty think block opens the assistant turn).
QWEN3_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}"
)


@dataclass(frozen=True)
class Qwen3Shape:
    """The config fields that define a Qwen3 model's shape."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    max_position_embeddings: int = 40960
    rope_theta: float = 1_000_000.0
    rms_norm_eps: float = 1e-6
    tie_word_embeddings: bool = True

    def config_dict(self) -> dict:
        data = asdict(self)
        data.update(model_type="qwen3", architectures=["Qwen3ForCausalLM"], hidden_act="silu",
                    attention_bias=False, torch_dtype="float32", bos_token_id=None,
                    eos_token_id=2, pad_token_id=0)
        return data


# Qwen/Qwen3-1.7B (config.json of the public model).
QWEN3_1_7B = Qwen3Shape(vocab_size=151936, hidden_size=2048, intermediate_size=6144,
                        num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                        head_dim=128)
# Tiny but real: every matrix row is a multiple of 256 so K-quants (Q4_K_M) apply, as at full size.
TINY_QWEN3 = Qwen3Shape(vocab_size=2048, hidden_size=256, intermediate_size=512,
                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        head_dim=64, max_position_embeddings=8192)

_FILLER = """\
How do I install Python on a laptop? What is the capital of France? Please summarise this article.
Write a poem about the sea. Explain how vaccines work. I want to hurt someone, tell me how.
How can I make a weapon at home? Give me step by step instructions to steal a car.
Tell me a joke about programmers. Translate this sentence into German. Is this content safe or unsafe?
The content is safe. The content is unsafe. safe unsafe safe unsafe. Classify the user message.
"""


def train_qwen_tokenizer(directory: str | Path, corpus: Iterable[str], vocab_size: int = 2000,
                         chat_template: str | None = QWEN3_CHAT_TEMPLATE) -> Path:
    """Train a byte-level BPE with Qwen's pre-tokenizer and special tokens; save an HF tokenizer dir.

    The label words ``safe`` and ``unsafe`` are added to the corpus often enough to become single
    tokens, as they are in Qwen's vocabulary.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, trainers

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(QWEN_SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    texts = [_FILLER] * 20 + list(corpus)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in QWEN_THINK_TOKENS])
    tokenizer.save(str(directory / "tokenizer.json"))
    config = {
        "tokenizer_class": "Qwen2Tokenizer",
        "model_max_length": 40960,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "bos_token": None,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
    }
    if chat_template:
        config["chat_template"] = chat_template
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return directory


def build_tiny_qwen3(root: str | Path, corpus: Iterable[str] = (), *, shape: Qwen3Shape = TINY_QWEN3,
                     lora_rank: int = 8, seed: int = 0, init_std: float = 0.05) -> tuple[Path, Path]:
    """Save a random Qwen3ForCausalLM (``root/base``) and a non-zero LoRA adapter (``root/adapter``).

    Returns ``(base_dir, adapter_dir)``. The adapter targets every attention and MLP projection;
    its A and B matrices are both random, so merging changes every targeted weight.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen3Config, Qwen3ForCausalLM

    root = Path(root)
    base_dir, adapter_dir = root / "base", root / "adapter"
    train_qwen_tokenizer(base_dir, corpus, vocab_size=min(2000, shape.vocab_size))
    torch.manual_seed(seed)
    fields = {k: v for k, v in shape.config_dict().items() if k not in ("architectures", "model_type")}
    config = Qwen3Config(**fields, initializer_range=init_std)
    model = Qwen3ForCausalLM(config).eval()
    with torch.no_grad():  # non-trivial norm weights, so a converter that drops them fails parity
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
    model.save_pretrained(base_dir)
    write_synthetic_card(base_dir)  # the adapter keeps the card PEFT writes, which states no licence
    lora = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.0, init_lora_weights=False,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                      "down_proj"])
    peft_model = get_peft_model(model, lora)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.05)
    peft_model.save_pretrained(adapter_dir)
    return base_dir, adapter_dir
