"""The constitutional tier: a Qwen3 + LoRA judge, quantized GGUF, scored from two label logits.

How an item is scored:

1. The prompt template is split once, at the last special token before ``{content}``, into a
   *prefix* (instruction + constitution, ~1.5k tokens) and a *suffix* (the user turn with the
   content and the assistant opening). Because added tokens are matched before BPE runs, the two
   halves tokenize exactly as the full prompt does; the split is verified when the classifier
   loads.
2. The prefix is evaluated once per classifier and stays in llama.cpp's KV cache. Per item the
   cache is trimmed back to the prefix and only the suffix (~60 tokens) is evaluated. The
   evaluated prefix is also kept on disk (:mod:`.prefix_state`), so a later start reads it back
   instead of evaluating the constitution again.
3. At the answer position the logits of the two label tokens are read;
   ``P(unsafe) = softmax([safe, unsafe])[1]`` and the score is ``1 - P(unsafe)`` (1.0 = safe).

Items whose suffix (content with the template's user/assistant turn around it) does not fit the
context, i.e. content over about ``max_input_tokens`` (8 tokens of slack cover BPE merges at the
boundaries), are split into overlapping token windows of ``max_input_tokens`` content tokens
(:func:`alignmenter_edge.windows.token_windows`) and the most unsafe window decides, so a long
text is never reported safe because its tail was cut off.

Tokenization uses the bundle's ``tokenizer.json`` (the export's reference tokenizer) with the
``tokenizers`` package, not llama.cpp's tokenizer, so ids equal the reference by construction.
Inside the content every added-token string (special or not: ``<|im_end|>`` and also Qwen3's
``</think>``) is plain text (:meth:`PromptLayout.content_ids`).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..bundle import Bundle
from ..classifier import BundleClassifier, require_texts
from ..deps import require
from ..errors import BundleError, ModelOutputError
from ..system import default_threads
from ..values import is_integer
from ..windows import check_window, token_windows
from .llama_session import DEFAULT_N_BATCH, LlamaSession
from .prefix_state import PrefixStateCache, default_directory, state_key

CONSTITUTION = "{constitution}"
CONTENT = "{content}"
MODEL_FILE = "model.gguf"
TOKENIZER_FILE = "tokenizer.json"
_SPLIT_PROBE = "Probe text: is this safe?"
_PROBE_EXTRA_IDS = 6  # logits of ids 0..5 are checked with the label logits when a state is restored


def render_prompt(template: str, constitution: str, content: str) -> str:
    """The full prompt for one item (plain substitution; braces in either text are harmless)."""
    head, tail = split_on_content(template)
    return head.replace(CONSTITUTION, constitution) + content + tail


def split_on_content(template: str) -> tuple[str, str]:
    """(head, tail) around {content}; BundleError unless the template holds {constitution} and
    {content} exactly once each, in that order (else the constitution is silently not judged by)."""
    if template.count(CONTENT) != 1:
        raise BundleError(f"the prompt template must contain {CONTENT} exactly once.")
    if template.count(CONSTITUTION) != 1:
        raise BundleError(f"the prompt template must contain {CONSTITUTION} exactly once, before "
                          f"{CONTENT}: without it the constitution would be recorded but never shown "
                          "to the model.")
    head, tail = template.split(CONTENT)
    if CONSTITUTION in tail:
        raise BundleError(f"{CONSTITUTION} must come before {CONTENT} in the template "
                          "(the constitution is the cached prefix).")
    return head, tail


def _softmax_pair(safe_logit: float, unsafe_logit: float) -> float:
    """P(unsafe) from the two label logits, computed stably in float64."""
    diff = safe_logit - unsafe_logit
    if not (math.isfinite(safe_logit) and math.isfinite(unsafe_logit)):
        raise ModelOutputError(f"the model gave non-finite label logits ({safe_logit}, {unsafe_logit}); "
                               "the GGUF file may be corrupt: reinstall or re-export the bundle.")
    if diff >= 0:
        e = math.exp(-diff)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(diff))


@dataclass(frozen=True)
class PromptLayout:
    """Template + constitution + tokenizer → cached prefix ids and per-item suffix ids."""

    tokenizer: Any  # tokenizers.Tokenizer
    template: str
    constitution: str
    prefix_text: str
    suffix_head: str  # suffix text before {content}
    suffix_tail: str  # suffix text after {content}
    prefix_ids: tuple[int, ...]
    head_ids: tuple[int, ...]
    tail_ids: tuple[int, ...]
    # Every added token of the tokenizer, special or not: <|im_start|>, <|im_end|> and also Qwen3's
    # <think>/</think>, which are added but not special and open the template's assistant turn.
    control_tokens: tuple[str, ...]
    normalizes_control: bool = False  # some added token is matched on the normalized text
    # content's tokenizer, made on first use: the bundle's with every added token special, so that
    # with encode_special_tokens none of them is matched (tokenizers skips only special ones)
    _plain: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, tokenizer: Any, template: str, constitution: str) -> "PromptLayout":
        head, tail = split_on_content(template)
        head = head.replace(CONSTITUTION, constitution)
        added = list(tokenizer.get_added_tokens_decoder().values())
        cut = max((head.rfind(t.content) for t in added if t.content), default=-1)
        if cut <= 0:
            raise BundleError("the prompt template needs a special token (e.g. <|im_start|>) between "
                              "the constitution and {content}; it is where the cached prefix ends.")
        prefix_text, suffix_head = head[:cut], head[cut:]
        if constitution and constitution not in prefix_text:
            raise BundleError("the constitution must end before the last special token preceding "
                              "{content}; otherwise it cannot be cached.")
        encode = lambda text: tuple(tokenizer.encode(text, add_special_tokens=False).ids)  # noqa: E731
        control = tuple(t.content for t in added if t.content)
        normalizes = any(t.normalized for t in added if t.content) and tokenizer.normalizer is not None
        layout = cls(tokenizer, template, constitution, prefix_text, suffix_head, tail,
                     encode(prefix_text), encode(suffix_head), encode(tail), control, normalizes)
        full = layout.reference_ids(_SPLIT_PROBE)
        split = list(layout.prefix_ids) + layout.suffix_ids(_SPLIT_PROBE)
        if full != split:
            raise BundleError("tokenizing the prompt in two halves does not give the ids of the full "
                              "prompt (the tokenizer adds tokens or merges across the split); the "
                              "cached prefix would change scores. Check the template.")
        return layout

    def full_prompt(self, content: str) -> str:
        return self.prefix_text + self.suffix_head + content + self.suffix_tail

    def reference_ids(self, content: str) -> list[int]:
        """The ids of the whole prompt tokenized in one piece (what the reference model sees)."""
        return self.tokenizer.encode(self.full_prompt(content)).ids

    def suffix_ids(self, content: str) -> list[int]:
        """The ids evaluated per item on top of the cached prefix: the reference tokenization,
        except that added-token strings in ``content`` stay plain text (:meth:`content_ids`)."""
        if self.has_control_tokens(content):
            return [*self.head_ids, *self.content_ids(content), *self.tail_ids]
        return self.tokenizer.encode(self.suffix_head + content + self.suffix_tail,
                                     add_special_tokens=False).ids

    def has_control_tokens(self, content: str) -> bool:
        """True when ``content`` spells one of the tokenizer's added tokens, special or not
        (``<|im_end|>``, ``</think>``, ...), as written or after the tokenizer's normalizer."""
        if any(token in content for token in self.control_tokens):
            return True
        if not self.normalizes_control:
            return False
        normalized = self.tokenizer.normalizer.normalize_str(content)
        return any(token in normalized for token in self.control_tokens)

    def content_ids(self, content: str) -> list[int]:
        """``content`` tokenized with every added-token string as plain text, as if the tokenizer
        had no added tokens: a text containing ``<|im_end|><|im_start|>assistant`` cannot end the
        user turn and answer for the judge, nor ``<think>\n\n</think>`` reproduce the assistant's
        opening with the template's own ids."""
        if not self.has_control_tokens(content):  # no added token can match: plain already
            return self.tokenizer.encode(content, add_special_tokens=False).ids
        return self._plain_tokenizer().encode(content, add_special_tokens=False).ids

    def item_windows(self, content: str, max_input_tokens: int, stride: int) -> list[list[int]]:
        """Suffix ids to evaluate on top of the prefix for one item: its exact suffix, or, when
        that is longer than :meth:`max_suffix_tokens`, head + window + tail for each window of
        ``max_input_tokens`` content tokens every ``stride`` (the export's parity uses the same)."""
        ids = self.suffix_ids(content)
        if len(ids) <= self.max_suffix_tokens(max_input_tokens):
            return [ids]
        head, tail = list(self.head_ids), list(self.tail_ids)
        return [head + window + tail for window in
                token_windows(self.content_ids(content), max_input_tokens, stride)]

    def max_suffix_tokens(self, max_input_tokens: int) -> int:
        """The longest suffix one evaluation takes. A window's suffix can exceed
        head + content + tail by a few tokens where BPE merges across the boundaries; 8 tokens of
        slack cover that."""
        return len(self.head_ids) + max_input_tokens + len(self.tail_ids) + 8

    def _plain_tokenizer(self) -> Any:
        plain = self._plain.get("tokenizer")
        if plain is None:
            data = json.loads(self.tokenizer.to_str())
            for token in data.get("added_tokens") or []:
                token["special"] = True  # encode_special_tokens skips special added tokens only
            plain = type(self.tokenizer).from_str(json.dumps(data))
            plain.encode_special_tokens = True
            self._plain["tokenizer"] = plain
        return plain


class ConstitutionalScorer:
    """Prefix-cached label-logit scoring of texts with one GGUF model (no bundle needed).

    Used by the classifier and by the export's parity checks. ``prefix_cache=False`` evaluates
    the full prompt per item (the naive path, for benchmarks and equality tests).
    """

    def __init__(self, model_path: str | os.PathLike[str], tokenizer_path: str | os.PathLike[str],
                 *, template: str, constitution: str, label_ids: Sequence[int],
                 max_input_tokens: int = 512, window_stride: int | None = None,
                 threads: int | None = None, kv_cache_type: str = "f16", flash_attn: bool = False,
                 repack_weights: bool = False, prefix_cache: bool = True, n_batch: int = DEFAULT_N_BATCH,
                 prefix_state: PrefixStateCache | None = None, model_sha256: str | None = None,
                 verbose: bool = False) -> None:
        tokenizers = require("tokenizers", "gguf", "the constitutional-gguf tier (tokenizer)")

        if len(label_ids) != 2:
            raise BundleError(f"expected two label token ids (safe, unsafe), got {list(label_ids)}.")
        if max_input_tokens < 1:
            raise ValueError(f"max_input_tokens must be positive, got {max_input_tokens}.")
        self.window_stride = check_window(max_input_tokens,
                                          max(1, (3 * max_input_tokens) // 4) if window_stride is None
                                          else window_stride)
        tokenizer_path = Path(tokenizer_path)
        if not tokenizer_path.is_file():
            raise BundleError(f"tokenizer file {tokenizer_path} does not exist.")
        self.layout = PromptLayout.build(tokenizers.Tokenizer.from_file(str(tokenizer_path)),
                                         template, constitution)
        self.label_ids = (int(label_ids[0]), int(label_ids[1]))
        self.max_input_tokens = max_input_tokens
        self.prefix_cache = prefix_cache
        self.threads = threads or default_threads()
        self.max_suffix_tokens = self.layout.max_suffix_tokens(max_input_tokens)
        n_prefix = len(self.layout.prefix_ids)
        self.session = LlamaSession(model_path, n_ctx=n_prefix + self.max_suffix_tokens,
                                    threads=self.threads, n_batch=n_batch,
                                    kv_type=kv_cache_type, flash_attn=flash_attn,
                                    repack_weights=repack_weights, verbose=verbose)
        try:
            for token in self.label_ids:
                if not 0 <= token < self.session.n_vocab:
                    raise BundleError(f"label token id {token} is outside the model's vocabulary "
                                      f"({self.session.n_vocab}).")
            self.prefix_source = "not cached"
            started = time.perf_counter()
            if prefix_cache:
                self._load_prefix(prefix_state, {
                    "model_sha256": model_sha256, "prefix_ids": list(self.layout.prefix_ids),
                    "n_ctx": self.session.n_ctx, "n_batch": self.session.n_batch, "threads": self.threads,
                    "kv_cache_type": kv_cache_type, "flash_attn": flash_attn,
                    "repack_weights": repack_weights, "llama_cpp": self.session.library_version})
            self.prefix_seconds = time.perf_counter() - started
        except BaseException:
            self.session.close()
            raise

    def _load_prefix(self, cache: PrefixStateCache | None, material: dict[str, Any]) -> None:
        """Put the evaluated prefix into the KV cache: from ``cache`` if it holds a verified state
        for exactly this model and prompt, else by evaluating it (and saving it to ``cache``)."""
        prefix = list(self.layout.prefix_ids)
        if cache is None:
            self.session.eval(prefix, want_logits=False)
            self.prefix_source = "evaluated"
            return
        if material["model_sha256"] is None:
            raise ValueError("a prefix state cache needs the model file's sha256 (model_sha256).")
        key = state_key(material)
        if cache.restore(self.session, key, prefix, self._probe_logits):
            self.prefix_source = "restored from disk"
            return
        self.session.eval(prefix, want_logits=False)
        self.prefix_source = "evaluated"
        if cache.save(self.session, key, prefix, self._probe_logits):
            self.prefix_source = "evaluated, saved to disk"

    def _probe_logits(self) -> list[float]:
        """Logits of the labels and a few other ids for a fixed probe item on the cached prefix."""
        self.suffix_label_logits(self.layout.suffix_ids(_SPLIT_PROBE))
        ids = list(self.label_ids) + list(range(min(_PROBE_EXTRA_IDS, self.session.n_vocab)))
        return self.session.logits_of_last(ids)

    @property
    def n_prefix(self) -> int:
        return len(self.layout.prefix_ids)

    def item_windows(self, content: str) -> list[list[int]]:
        """Suffix ids to evaluate for one item: one exact suffix, or several windows if too long."""
        return self.layout.item_windows(content, self.max_input_tokens, self.window_stride)

    def suffix_label_logits(self, suffix: Sequence[int]) -> tuple[float, float]:
        """(safe, unsafe) logits at the answer position of prefix + ``suffix``."""
        session = self.session
        if self.prefix_cache:
            session.keep(self.n_prefix)
            session.eval(list(suffix))
        else:
            session.keep(0)
            session.eval(list(self.layout.prefix_ids) + list(suffix))
        safe, unsafe = session.logits_of_last(self.label_ids)
        return safe, unsafe

    def label_logits(self, content: str) -> list[tuple[float, float]]:
        """(safe, unsafe) logits for each window of ``content`` (one pair for normal items)."""
        return [self.suffix_label_logits(window) for window in self.item_windows(content)]

    def p_unsafe(self, content: str) -> float:
        """P(unsafe) of the most unsafe window."""
        return max(_softmax_pair(s, u) for s, u in self.label_logits(content))

    def score(self, content: str) -> float:
        """Safety score: 1 - P(unsafe)."""
        return 1.0 - self.p_unsafe(content)

    def close(self) -> None:
        self.session.close()


class ConstitutionalGGUFClassifier(BundleClassifier):
    """Judges texts against a constitution with a quantized Qwen3 + LoRA GGUF (llama.cpp)."""

    tier = "constitutional-gguf"
    default_batch_size = 16

    def __init__(self, bundle: Bundle, *, batch_size: int | None = None, threads: int | None = None,
                 constitution: str | None = None, max_input_tokens: int | None = None,
                 window_stride: int | None = None, kv_cache_type: str = "f16",
                 flash_attn: bool = False, repack_weights: bool = False, prefix_cache: bool = True,
                 prefix_state_cache: bool | str | os.PathLike[str] = True,
                 verbose: bool = False) -> None:
        super().__init__(bundle, batch_size=batch_size, threads=threads)
        manifest = bundle.manifest
        prompt = manifest.prompt or {}
        if "template" not in prompt or "constitution" not in prompt:
            raise BundleError(f"{bundle.path}: the manifest has no prompt template/constitution.")
        if max_input_tokens is None:
            max_input_tokens = manifest.max_input_tokens
        elif not is_integer(max_input_tokens) or max_input_tokens < 1:
            raise ValueError(f"max_input_tokens must be a positive integer, got {max_input_tokens!r} "
                             f"(the bundle's is {manifest.max_input_tokens}).")
        if window_stride is None and manifest.extra.get("window_stride") is not None:
            window_stride = manifest.extra["window_stride"]
            try:  # the manifest's stride must fit its window: a bad bundle, not a bad argument
                check_window(max_input_tokens, window_stride)
            except ValueError as exc:
                raise BundleError(f"{bundle.path}: manifest extra.window_stride: {exc} Re-export the "
                                  "bundle, or pass window_stride=.") from exc
        self.constitution_overridden = constitution is not None
        self._lock = threading.Lock()
        state_cache = None
        if prefix_state_cache is not True and prefix_state_cache is not False and (
                not isinstance(prefix_state_cache, (str, os.PathLike))
                or not isinstance(os.fspath(prefix_state_cache), str) or not os.fspath(prefix_state_cache)):
            raise ValueError(f"prefix_state_cache must be True (the data home's cache), False (none) "
                             f"or a directory path, got {prefix_state_cache!r}; an empty path would "
                             "mean the current directory.")
        if prefix_cache and prefix_state_cache is not False:
            directory = default_directory() if prefix_state_cache is True else Path(prefix_state_cache)
            state_cache = PrefixStateCache(directory, verify=bundle.verify)  # "full" hashes it too
        self.scorer = ConstitutionalScorer(
            bundle.file(MODEL_FILE), bundle.file(TOKENIZER_FILE),
            template=prompt["template"],
            constitution=prompt["constitution"] if constitution is None else constitution,
            label_ids=_label_ids(manifest.labels, bundle.path),
            max_input_tokens=max_input_tokens, window_stride=window_stride,
            threads=threads or default_threads(), kv_cache_type=kv_cache_type, flash_attn=flash_attn,
            repack_weights=repack_weights, prefix_cache=prefix_cache, prefix_state=state_cache,
            model_sha256=manifest.files[MODEL_FILE].sha256, verbose=verbose)
        self.threads = self.scorer.threads
        try:
            _check_label_words(self.scorer.layout.tokenizer, manifest.labels, bundle.path)
        except BaseException:
            self.scorer.close()
            raise
        self._settings = {"kv_cache_type": kv_cache_type, "flash_attn": flash_attn,
                          "repack_weights": repack_weights, "prefix_cache": prefix_cache,
                          "prefix_state_cache": str(state_cache.directory) if state_cache else None}

    def _score(self, texts: list[str]) -> Sequence[float]:
        with self._lock:  # one KV cache: threads sharing the classifier take turns
            self._require_open()  # again: a close() may have won the lock since score_batch checked
            return [self.scorer.score(text) for text in texts]

    def p_unsafe(self, text: str) -> float:
        """The raw P(unsafe) of ``text`` (its most unsafe window), as a float in [0, 1]."""
        self._require_open()
        content = require_texts([text])[0]
        with self._lock:
            self._require_open()
            return self.scorer.p_unsafe(content)

    def _details(self) -> dict[str, Any]:
        manifest = self.bundle.manifest
        return {
            "quantization": manifest.quantization,
            "prefix_tokens": self.scorer.n_prefix,
            "context": self.scorer.session.n_ctx,
            "n_batch": self.scorer.session.n_batch,  # tokens per llama_decode call
            "max_input_tokens": self.scorer.max_input_tokens,
            "long_input_policy": manifest.long_input_policy,
            "constitution": "custom" if self.constitution_overridden else "bundle",
            "prefix": self.scorer.prefix_source,
            "prefix_seconds": round(self.scorer.prefix_seconds, 3),
            **self._settings,
        }

    def _release(self) -> None:
        with self._lock:  # not while another thread is decoding
            self.scorer.close()


def _label_ids(labels: Mapping[str, Any], where: Path) -> tuple[int, int]:
    """(safe, unsafe) token ids: two different integers, or BundleError naming the problem."""
    try:
        safe, unsafe = labels["safe"]["token_id"], labels["unsafe"]["token_id"]
    except (KeyError, TypeError) as exc:
        raise BundleError(f"{where}: manifest labels need safe/unsafe token ids ({exc}). "
                          "Re-export the bundle.") from exc
    if not all(is_integer(i) for i in (safe, unsafe)):
        raise BundleError(f"{where}: label token ids must be integers, got safe {safe!r}, unsafe "
                          f"{unsafe!r}. Re-export the bundle.")
    if safe == unsafe:
        raise BundleError(f"{where}: labels safe and unsafe have the same token id {safe}, so every "
                          "text would score 0.5 and none would be flagged. Re-export the bundle.")
    return safe, unsafe


def _check_label_words(tokenizer: Any, labels: Mapping[str, Any], where: Path) -> None:
    """The stored label ids must be what the bundle's tokenizer makes of the label words."""
    for name in ("safe", "unsafe"):
        word, token_id = labels[name].get("word"), int(labels[name]["token_id"])
        if word is not None and tokenizer.encode(word, add_special_tokens=False).ids != [token_id]:
            raise BundleError(f"{where}: label {name!r} is word {word!r} with id {token_id} in the "
                              "manifest, but the bundle's tokenizer disagrees; the bundle is inconsistent.")
