"""A small, readable Qwen3 → GGUF writer on the ``gguf`` package (what llama.cpp loads).

llama.cpp's own ``convert_hf_to_gguf.py`` is not installable, so this module writes the few things
a Qwen3 dense model needs:

* hyper-parameters, including ``qwen3.rope.freq_base`` (without it llama.cpp silently uses 10000
  and every logit is wrong);
* the byte-level BPE tokenizer: tokens (padded to the embedding rows), token types, merges,
  ``pre = "qwen2"``, special token ids and the chat template;
* the tensors, renamed with gguf's own name map. Qwen3 needs no q/k permutation; norms stay F32;
  with tied embeddings no ``output.weight`` is written.

Tensors are streamed one at a time (:class:`TensorSource`), so a 1.7B model never needs a second
copy in memory. Only F32 and F16 are written here; llama.cpp's quantizer makes the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..errors import ExportError

ARCH = "qwen3"
FLOAT_TYPES = ("F32", "F16")


@dataclass(frozen=True)
class TensorSource:
    """A Hugging Face tensor by name and shape, materialised only when written."""

    name: str
    shape: tuple[int, ...]
    load: Callable[[], np.ndarray]


def tensors_from_state_dict(state: Mapping[str, Any]) -> list[TensorSource]:
    """TensorSources over a torch state dict (values converted to float32 numpy on demand)."""
    def loader(tensor: Any) -> Callable[[], np.ndarray]:
        return lambda: tensor.detach().to("cpu").float().numpy()

    return [TensorSource(name, tuple(t.shape), loader(t)) for name, t in state.items()]


@dataclass(frozen=True)
class Vocab:
    """The tokenizer as GGUF wants it."""

    tokens: list[str]
    types: list[int]
    merges: list[str]
    special_ids: dict[str, int]
    chat_template: str | None


def read_vocab(tokenizer_json: str | Path, n_vocab: int, tokenizer_config: Mapping[str, Any] | None = None) -> Vocab:
    """Tokens, types and merges from a byte-level BPE ``tokenizer.json``, padded to ``n_vocab``.

    Added tokens flagged special become CONTROL, other added tokens USER_DEFINED, ids without a
    token (embedding padding) UNUSED ``[PAD{id}]`` entries, as llama.cpp's converter does.
    """
    import gguf

    data = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    model = data.get("model", {})
    if model.get("type") != "BPE":
        raise ExportError(f"{tokenizer_json}: expected a BPE tokenizer, found {model.get('type')!r}.")
    by_id: dict[int, tuple[str, int]] = {i: (tok, gguf.TokenType.NORMAL) for tok, i in model["vocab"].items()}
    for added in data.get("added_tokens", []):
        kind = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
        by_id[int(added["id"])] = (added["content"], kind)
    if by_id and max(by_id) >= n_vocab:
        raise ExportError(f"tokenizer has id {max(by_id)} but the model has only {n_vocab} embedding rows.")
    tokens, types = [], []
    for i in range(n_vocab):
        token, kind = by_id.get(i, (f"[PAD{i}]", gguf.TokenType.UNUSED))
        tokens.append(token)
        types.append(int(kind))
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    config = dict(tokenizer_config or {})
    token_ids = {tok: i for i, (tok, _) in by_id.items()}
    special_ids = {}
    for role in ("bos", "eos", "pad", "unk"):
        value = config.get(f"{role}_token")
        if isinstance(value, dict):
            value = value.get("content")
        if value in token_ids:
            special_ids[role] = token_ids[value]
    template = config.get("chat_template")
    return Vocab(tokens, types, merges, special_ids, template if isinstance(template, str) else None)


def write_qwen3_gguf(path: str | Path, config: Mapping[str, Any], vocab: Vocab,
                     tensors: Iterable[TensorSource], *, dtype: str = "F32", name: str = "",
                     metadata: Mapping[str, str] | None = None) -> Path:
    """Write a Qwen3 GGUF with all matrices in ``dtype`` (F32 or F16) and norms in F32."""
    import gguf

    if dtype not in FLOAT_TYPES:
        raise ExportError(f"the GGUF writer writes {FLOAT_TYPES}; quantize with llama.cpp for {dtype}.")
    if config.get("model_type", ARCH) != ARCH:
        raise ExportError(f"expected a qwen3 model, got model_type={config.get('model_type')!r}.")
    n_layers = int(config["num_hidden_layers"])
    n_head = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    head_dim = int(config.get("head_dim") or hidden // n_head)
    n_vocab = int(config["vocab_size"])
    if len(vocab.tokens) != n_vocab:
        raise ExportError(f"vocabulary has {len(vocab.tokens)} tokens, the model {n_vocab} rows.")

    path = Path(path)
    writer = gguf.GGUFWriter(path, ARCH)
    try:
        writer.add_name(name or "qwen3")
        for key, value in (metadata or {}).items():
            writer.add_string(key, value)
        writer.add_file_type(gguf.LlamaFileType.ALL_F32 if dtype == "F32" else gguf.LlamaFileType.MOSTLY_F16)
        writer.add_context_length(int(config.get("max_position_embeddings", 40960)))
        writer.add_embedding_length(hidden)
        writer.add_block_count(n_layers)
        writer.add_feed_forward_length(int(config["intermediate_size"]))
        writer.add_head_count(n_head)
        writer.add_head_count_kv(int(config.get("num_key_value_heads") or n_head))
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
        writer.add_rope_freq_base(float(config.get("rope_theta") or _rope_theta(config)))
        writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
        writer.add_vocab_size(n_vocab)

        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("qwen2")
        writer.add_token_list(vocab.tokens)
        writer.add_token_types(vocab.types)
        writer.add_token_merges(vocab.merges)
        for role, token_id in vocab.special_ids.items():
            getattr(writer, f"add_{role}_token_id")(token_id)
        writer.add_add_bos_token(False)
        if vocab.chat_template:
            writer.add_chat_template(vocab.chat_template)

        name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN3, n_layers)
        tied = bool(config.get("tie_word_embeddings", True))
        plan: list[tuple[str, TensorSource, np.dtype]] = []
        for source in tensors:
            if source.name == "lm_head.weight" and tied:
                continue  # tied: llama.cpp reuses token_embd
            if "rotary_emb" in source.name:
                continue
            gguf_name = name_map.get_name(source.name, try_suffixes=(".weight", ".bias"))
            if gguf_name is None:
                raise ExportError(f"no GGUF name for tensor {source.name!r}; is this a Qwen3 model?")
            out = np.dtype(np.float32) if dtype == "F32" or len(source.shape) == 1 else np.dtype(np.float16)
            if source.name == "model.embed_tokens.weight" and source.shape[0] != n_vocab:
                raise ExportError(f"embedding has {source.shape[0]} rows, config.vocab_size is {n_vocab}.")
            n_bytes = int(np.prod(source.shape)) * out.itemsize
            writer.add_tensor_info(gguf_name, source.shape, out, n_bytes)
            plan.append((gguf_name, source, out))
        _check_tensor_set({g for g, _, _ in plan}, n_layers)

        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for gguf_name, source, out in plan:
            array = np.ascontiguousarray(source.load(), dtype=out)
            if tuple(array.shape) != tuple(source.shape):
                raise ExportError(f"{source.name}: loaded shape {array.shape}, declared {source.shape}.")
            writer.write_tensor_data(array)
            del array
    except BaseException:
        writer.close()
        path.unlink(missing_ok=True)
        raise
    writer.close()
    return path


def _rope_theta(config: Mapping[str, Any]) -> float:
    """transformers 5 moves rope_theta into ``rope_parameters``; read it from either place."""
    params = config.get("rope_parameters") or config.get("rope_scaling") or {}
    theta = params.get("rope_theta") if isinstance(params, Mapping) else None
    if theta is None:
        raise ExportError("the model config has no rope_theta; refusing to let llama.cpp guess 10000.")
    return float(theta)


def _check_tensor_set(names: set[str], n_layers: int) -> None:
    expected = {"token_embd.weight", "output_norm.weight"}
    for i in range(n_layers):
        expected |= {f"blk.{i}.{part}.weight" for part in (
            "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm", "attn_k_norm",
            "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")}
    missing = sorted(expected - names)
    if missing:
        raise ExportError(f"the model lacks tensors llama.cpp needs: {', '.join(missing[:6])}"
                          f"{' ...' if len(missing) > 6 else ''}")
