"""The ``roberta-onnx`` tier: a RoBERTa sequence classifier exported to (int8) ONNX.

Runtime needs only ``onnxruntime``, ``tokenizers`` and ``numpy`` (the ``[onnx]`` extra); it never
imports torch or transformers. What it does per call:

1. tokenize every text with the bundle's ``tokenizer.json`` (no truncation, no special tokens);
2. split token sequences longer than the model's limit into overlapping windows
   (:func:`alignmenter_edge.windows.token_windows`: ``max_input_tokens - specials`` tokens per
   window, stride half a window) and wrap each window in the model's special tokens;
3. sort all windows by length, pad per batch (:func:`~alignmenter_edge.windows.length_sorted_batches`,
   further split so one batch never exceeds ``max_batch_tokens`` padded tokens), run the session,
   up to ``parallel_runs`` batches at a time (default: ``threads``) on the one shared session;
4. reject non-finite logits (:class:`~alignmenter_edge.errors.ModelOutputError`), take
   P(unsafe) = softmax(logits)[unsafe_index] from the manifest, and give each text the **most
   unsafe** of its windows; safety score = 1 - P(unsafe), in input order.

Memory arena (``arena=``): ``"on"`` (default) is ORT's growing arena: it grows to what the largest
run needs (bounded by ``max_batch_tokens``) and keeps it, so RSS stays flat over a long stream and
its peak was no higher than without it; ``"off"`` allocates per run from the system allocator
(lower RSS between runs, peaks a little higher, RSS swings with input length); ``"shrink"`` keeps
the arena but releases unused chunks after each run. Measurements: docs/roberta.md.

Parallel runs (``parallel_runs=``): on short inputs per-operator parallelism leaves cores idle
(waking the intra-op pool for every small operator costs more than it saves), so independent
batches of at most ``PARALLEL_MAX_TOKENS`` padded tokens also run concurrently on the same session
(onnxruntime's ``run`` is thread-safe and releases the GIL). Weights are shared; only activations
are per run. The logits are the same as one run after another; ``parallel_runs=1`` runs them one
after another.

Threads may share one classifier (their calls run concurrently on the session); ``close()`` waits
for the calls running at that moment, and a later call raises the tier's "closed" error.
"""

from __future__ import annotations

import math
import numbers
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from ..bundle import Bundle
from ..classifier import BundleClassifier
from ..deps import require
from ..errors import BundleError, ModelOutputError
from ..system import default_threads, release_free_heap
from ..values import is_integer
from ..windows import check_window, length_sorted_batches, token_windows

MODEL_FILE = "model.onnx"  # the graph; exports since 2026-12-04 keep its weights in model.onnx.data
ARENA_MODES = ("off", "on", "shrink")
DEFAULT_MAX_BATCH_TOKENS = 2048  # 4 full 512-token windows per run: bounds attention memory
# Batches of at most this many padded tokens run concurrently; larger ones one at a time. Small
# runs are where per-operator threading idles the cores; large ones keep both cores busy alone,
# and running them concurrently only multiplied their activation memory (docs/roberta.md).
PARALLEL_MAX_TOKENS = 256


def check_label_index(value: Any) -> int:
    """``value`` as an int column index; ValueError unless it is an integer (numpy's too), not a
    bool, a fraction or a string: int() read 0.7 as column 0, which inverts every score."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"unsafe_index must be a non-negative integer (the softmax column that means "
                         f"unsafe), got {value!r}.")
    return int(value)


class RobertaEngine:
    """An ONNX session plus tokenizer: token ids in, logits / P(unsafe) out.

    Shared by the tier (on a verified bundle) and the export (on the files it is about to bundle,
    to measure parity through exactly the code that will run).
    """

    def __init__(self, model_path: str | Path, tokenizer_path: str | Path, *, unsafe_index: int,
                 max_input_tokens: int, prefix_ids: Sequence[int], suffix_ids: Sequence[int],
                 pad_id: int, threads: int | None = None, arena: str = "on",
                 spinning: bool = False, window_stride: int | None = None,
                 max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
                 parallel_runs: int | None = None) -> None:
        for name, value in (("max_batch_tokens", max_batch_tokens), ("parallel_runs", parallel_runs)):
            if value is not None and (not is_integer(value) or value < 1):  # True read as 1, 0 as "one window"
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        ort = require("onnxruntime", "onnx", "the roberta-onnx tier")
        tokenizers = require("tokenizers", "onnx", "the roberta-onnx tier")
        self._np = require("numpy", "onnx", "the roberta-onnx tier")
        if arena not in ARENA_MODES:
            raise ValueError(f"arena must be one of {', '.join(ARENA_MODES)}, got {arena!r}.")
        self.unsafe_index = check_label_index(unsafe_index)
        self.prefix_ids = [int(i) for i in prefix_ids]
        self.suffix_ids = [int(i) for i in suffix_ids]
        self.pad_id = int(pad_id)
        self.max_input_tokens = int(max_input_tokens)
        self.window_size = self.max_input_tokens - len(self.prefix_ids) - len(self.suffix_ids)
        if self.window_size < 1:
            raise BundleError(f"max_input_tokens {max_input_tokens} leaves no room for text.")
        self.window_stride = check_window(self.window_size, max(1, self.window_size // 2) if window_stride is None
                                          else window_stride)
        self.max_batch_tokens = max(max_batch_tokens, self.max_input_tokens)  # one window always fits
        self.threads = threads or default_threads()
        self.parallel_runs = parallel_runs or self.threads
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.arena = arena

        self.tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        release_free_heap()  # the JSON parse's garbage, before the session's allocations land on top

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.enable_cpu_mem_arena = arena != "off"
        options.enable_mem_pattern = False  # shapes change every batch; patterns would not be reused
        options.log_severity_level = 3
        # Spinning workers burn the cores between runs; on a shared or small machine that steals
        # time from everything else (and from tokenization), so it is off unless asked for.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.spinning = spinning
        self.session = ort.InferenceSession(str(model_path), sess_options=options,
                                            providers=["CPUExecutionProvider"])
        release_free_heap()  # the parsed model proto, freed once the weights are in place
        self._run_options = None
        if arena == "shrink":
            self._run_options = ort.RunOptions()
            self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._input_names = {i.name for i in self.session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._input_names
        if missing:
            raise BundleError(f"{model_path}: the ONNX model lacks input(s) {sorted(missing)}.")
        num_labels = self.session.get_outputs()[0].shape[-1]
        known = isinstance(num_labels, int)  # symbolic: checked on the first run's logits
        if self.unsafe_index < 0 or (known and self.unsafe_index >= num_labels):
            raise BundleError(f"unsafe label index {self.unsafe_index} is out of range for a model "
                              f"with {num_labels if known else 'an unknown number of'} labels.")

    # -- tokens ------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens and without truncation."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def windows(self, ids: Sequence[int]) -> list[list[int]]:
        """Model inputs for one text: one window, or overlapping windows when it is too long."""
        return [self.prefix_ids + window + self.suffix_ids
                for window in token_windows(ids, self.window_size, self.window_stride)]

    # -- model -------------------------------------------------------------------------------
    def logits(self, sequences: Sequence[Sequence[int]], batch_size: int) -> Any:
        """Logits (float32, one row per sequence, in the given order) for ready-made model inputs."""
        np = self._np
        lengths = [len(s) for s in sequences]
        parts = [part for batch in length_sorted_batches(lengths, batch_size)
                 for part in self._split_by_tokens(batch, lengths)]
        small: list[list[int]] = []
        large: list[list[int]] = []
        for part in parts:  # padded tokens decide: small batches run concurrently
            (small if len(part) * max(lengths[i] for i in part) <= PARALLEL_MAX_TOKENS else large).append(part)
        rows: list[Any] = [None] * len(sequences)
        for group, concurrent in ((large, False), (small, True)):
            outputs = self._map(lambda part: self._run([sequences[i] for i in part]), group, concurrent)
            for part, out in zip(group, outputs):
                for row, index in enumerate(part):
                    rows[index] = out[row]
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def _map(self, function: Any, parts: list[list[int]], concurrent: bool) -> Any:
        """``map`` over the batches, ``parallel_runs`` at a time when concurrent, results in order."""
        if not concurrent or self.parallel_runs == 1 or len(parts) < 2:
            return map(function, parts)
        with self._pool_lock:  # two threads' first calls must not each make (and leak) a pool
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.parallel_runs, thread_name_prefix="roberta-onnx-run")
            pool = self._pool
        return pool.map(function, parts)

    def _run(self, batch: list[Sequence[int]]) -> Any:
        """One batch of model inputs, padded, through the session: its logits, checked to be finite."""
        np = self._np
        ids = np.full((len(batch), max(map(len, batch))), self.pad_id, dtype=np.int64)
        mask = np.zeros(ids.shape, dtype=np.int64)
        for row, sequence in enumerate(batch):
            ids[row, :len(sequence)] = sequence
            mask[row, :len(sequence)] = 1
        out = self.session.run(None, {"input_ids": ids, "attention_mask": mask}, self._run_options)[0]
        if not np.isfinite(out).all():
            raise ModelOutputError(
                "the roberta-onnx model produced non-finite logits (NaN or inf); refusing "
                "to turn them into a score. The model file may be damaged.")
        return out

    def _split_by_tokens(self, batch: list[int], lengths: Sequence[int]) -> list[list[int]]:
        # Batches arrive longest first; cap padded tokens so 512-token windows stay bounded in memory.
        rows = max(1, self.max_batch_tokens // max(lengths[i] for i in batch))
        return [batch[start:start + rows] for start in range(0, len(batch), rows)]

    def p_unsafe_of_logits(self, logits: Any) -> Any:
        np = self._np
        if logits.ndim != 2 or logits.shape[1] <= self.unsafe_index:
            raise BundleError(f"the model gives {logits.shape[-1]} label logits per text, so unsafe "
                              f"label index {self.unsafe_index} does not exist; re-export the bundle "
                              "with the right --unsafe-index (or pass unsafe_index=).")
        z = logits.astype(np.float64)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e[:, self.unsafe_index] / e.sum(axis=1)

    def p_unsafe(self, texts: Sequence[str], batch_size: int) -> list[float]:
        """P(unsafe) per text: the maximum over its windows."""
        owners: list[int] = []
        sequences: list[list[int]] = []
        for position, ids in enumerate(self.encode(texts)):
            for window in self.windows(ids):
                owners.append(position)
                sequences.append(window)
        probabilities = self.p_unsafe_of_logits(self.logits(sequences, batch_size))
        worst = [-math.inf] * len(texts)
        for owner, p in zip(owners, probabilities.tolist()):
            worst[owner] = max(worst[owner], p)
        return worst

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.session = None
        self.tokenizer = None


class RobertaONNXClassifier(BundleClassifier):
    """Batched RoBERTa safety classifier on onnxruntime (1.0 = safe)."""

    tier = "roberta-onnx"
    default_batch_size = 8  # fp32 bundles: length-sorted batches of 8 (docs/roberta.md)
    # int8 bundles run one window per session call by default. Dynamic int8 quantizes activations
    # with one scale per *batch*, so a batched int8 score moves with its neighbours (~2e-4 here);
    # one window per call makes every score independent of the batch; measured on three machines
    # (README) at 62-71 % of the peak RSS of batches of 8, 0.97-1.10x their speed on all lengths,
    # 0.83-0.87x on short turns. batch_size overrides.
    int8_default_batch_size = 1

    def __init__(self, bundle: Bundle, *, batch_size: int | None = None, threads: int | None = None,
                 arena: str = "on", spinning: bool = False, unsafe_index: int | None = None,
                 window_stride: int | None = None,
                 max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
                 parallel_runs: int | None = None) -> None:
        self._calls = threading.Condition()  # guards _in_flight: score_batch calls now running
        self._in_flight = 0
        if batch_size is None and bundle.manifest.quantization != "fp32":
            batch_size = self.int8_default_batch_size
        super().__init__(bundle, batch_size=batch_size, threads=threads)
        manifest = bundle.manifest
        labels = manifest.labels or {}
        if unsafe_index is None:
            if "unsafe_index" not in labels:
                raise BundleError(f"{bundle.path}: the manifest does not say which label is unsafe "
                                  "(labels.unsafe_index); re-export with --unsafe-index.")
            unsafe_index = labels["unsafe_index"]
        self.label_names = list(labels.get("names") or [])
        special = manifest.extra.get("special_tokens", {})
        try:
            prefix, suffix, pad = special["prefix_ids"], special["suffix_ids"], special["pad_id"]
        except KeyError as exc:
            raise BundleError(f"{bundle.path}: manifest extra.special_tokens lacks {exc}.") from exc
        self.engine = RobertaEngine(
            bundle.file(MODEL_FILE), bundle.file(manifest.tokenizer or "tokenizer.json"),
            unsafe_index=unsafe_index, max_input_tokens=manifest.max_input_tokens,
            prefix_ids=prefix, suffix_ids=suffix, pad_id=pad, threads=threads, arena=arena,
            spinning=spinning, window_stride=window_stride, max_batch_tokens=max_batch_tokens,
            parallel_runs=parallel_runs)
        self.threads = self.engine.threads

    def _score(self, texts: list[str]) -> Sequence[float]:
        with self._calls:  # atomic with close(): either this call is counted, or it is refused
            self._require_open()
            self._in_flight += 1
        try:
            return [1.0 - p for p in self.engine.p_unsafe(texts, self.batch_size)]
        finally:
            with self._calls:
                self._in_flight -= 1
                if not self._in_flight:
                    self._calls.notify_all()

    def unsafe_probabilities(self, texts: Sequence[str]) -> list[float]:
        """P(unsafe) per text (the most unsafe window), in input order."""
        return [1.0 - score for score in self.score_batch(texts)]

    def _details(self) -> dict[str, Any]:
        return {
            "unsafe_index": self.engine.unsafe_index,
            "labels": self.label_names,
            "quantization": self.bundle.manifest.quantization,
            "max_input_tokens": self.engine.max_input_tokens,
            "window": {"size": self.engine.window_size, "stride": self.engine.window_stride},
            "arena": self.engine.arena,
            "spinning": self.engine.spinning,
            "max_batch_tokens": self.engine.max_batch_tokens,
            "parallel_runs": self.engine.parallel_runs,
        }

    def _release(self) -> None:
        # Calls on other threads share the one session (they run concurrently, so no lock around
        # them): close() waits until the running ones are done, and later ones are refused.
        with self._calls:
            while self._in_flight:
                self._calls.wait()
            self.engine.close()
