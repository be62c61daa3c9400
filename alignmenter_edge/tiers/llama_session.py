"""The native layer of the GGUF tier: one llama.cpp model + context + batch, owned and freed here.

Uses llama-cpp-python's low-level bindings only (``llama_cpp.llama_*``), because the settings this
tier needs are not reachable through ``llama_cpp.Llama``: CPU weight repacking off
(``use_extra_bufts``), an exact logits read at one position, and KV-cache trimming to a cached
prefix. Everything native is released by :meth:`LlamaSession.close` (idempotent).

llama.cpp logs through one process-wide callback. :func:`quiet_logs` installs a filter that drops
the messages unless a verbose session is alive, and keeps the last warnings and errors so a failed
load can say *why* (e.g. a truncated GGUF).
"""

from __future__ import annotations

import collections
import ctypes
import os
import sys
import threading
from pathlib import Path
from typing import Any, Sequence

from ..deps import require
from ..errors import BundleError, ModelOutputError
from ..system import cpu_features

KV_TYPES = {"f32": 0, "f16": 1, "q8_0": 8}  # ggml_type ids (GGML_TYPE_F32, _F16, _Q8_0)
# Tokens per llama_decode call (n_batch = n_ubatch). llama.cpp's compute buffers grow with it
# (attention scores over the whole context per batch token); an item's ~60-token suffix fits in
# one call either way. On the Qwen3-1.7B shape, Q4_K_M, 2 threads: peak RSS 1.459 GiB at 512,
# 1.405 at 256, 1.375 at 128, 1.357 at 64, with items and windows as fast at 128 as at 512 and
# slower at 64 (hand probe, 2026-12-03; benchmarks/results/constitutional_xeon_amx_nbatch128.*).
DEFAULT_N_BATCH = 128

_lock = threading.Lock()
_state: dict[str, Any] = {"callback": None, "verbose": 0, "backend": False, "keeping": False}
_recent = collections.deque(maxlen=12)  # last warning/error lines from llama.cpp


def _llama_cpp() -> Any:
    return require("llama_cpp", "gguf", "the constitutional-gguf tier (llama.cpp)")


def quiet_logs(verbose: bool = False) -> None:
    """Install the log filter once; ``verbose`` sessions let llama.cpp's messages through."""
    llama_cpp = _llama_cpp()
    with _lock:
        if _state["callback"] is None:
            @llama_cpp.llama_log_callback
            def callback(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
                message = text.decode("utf-8", "replace") if text else ""
                _remember(level, " ".join(message.split()))
                if _state["verbose"] > 0:
                    sys.stderr.write(message)

            _state["callback"] = callback  # keep a reference: C holds only the pointer
            llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
        if not _state["backend"]:
            llama_cpp.llama_backend_init()
            _state["backend"] = True
        if verbose:
            _state["verbose"] += 1


def _remember(level: int, message: str) -> None:
    """Keep warnings and errors, with the lines that continue them. ggml's levels: 0 none,
    1 debug, 2 info, 3 warn, 4 error, 5 continues the previous message."""
    if level != 5:
        _state["keeping"] = level in (3, 4)
        if _state["keeping"] and message:
            _recent.append(message)
    elif _state["keeping"] and message:
        _recent.append(f"{_recent.pop()} {message}" if _recent else message)


def forget_messages() -> None:
    """Drop the warnings and errors kept so far (before an operation whose own ones matter)."""
    _recent.clear()


def recent_errors() -> str:
    """`` llama.cpp said: ...`` with its last warnings and errors (then forgotten), or ""."""
    lines = [line for line in _recent if line]
    _recent.clear()
    return (" llama.cpp said: " + " | ".join(lines[-4:])) if lines else ""


def amx_repacking(llama_cpp: Any) -> bool:
    """True when llama.cpp's extra buffer types (``repack_weights``) would use its AMX kernels:
    this llama.cpp is built with AMX-INT8 and the CPU reports it."""
    info = llama_cpp.llama_print_system_info()
    built = "AMX_INT8 = 1" in (info.decode(errors="replace") if isinstance(info, bytes) else str(info))
    return built and "amx_int8" in cpu_features()


class LlamaSession:
    """A loaded GGUF with one context (one sequence) and a reusable token batch."""

    def __init__(self, model_path: str | os.PathLike[str], *, n_ctx: int, threads: int,
                 n_batch: int = DEFAULT_N_BATCH, kv_type: str = "f16", flash_attn: bool = False,
                 repack_weights: bool = False, mmap: bool = True, verbose: bool = False) -> None:
        llama_cpp = _llama_cpp()
        self._llama = llama_cpp
        self._model = self._ctx = None
        self._batch = None
        self._verbose = False
        self.path = Path(model_path)
        self.library_version = str(getattr(llama_cpp, "__version__", "unknown"))
        if kv_type not in KV_TYPES:
            raise ValueError(f"kv_type must be one of {', '.join(KV_TYPES)}, got {kv_type!r}.")
        if kv_type == "q8_0" and not flash_attn:
            raise ValueError("a q8_0 KV cache needs flash_attn=True in llama.cpp.")
        if not self.path.is_file():
            raise BundleError(f"GGUF model file {self.path} does not exist.")
        if repack_weights and amx_repacking(llama_cpp):
            raise ValueError(
                "repack_weights=True would put the weights in llama.cpp's AMX buffers on this CPU "
                "(AMX-INT8, and this llama.cpp is built with it); that path killed the process with "
                "a segmentation fault at the first decode of Q8_0 and Q4_K_M models here "
                f"(llama-cpp-python {self.library_version}; llama.cpp issue #20824). Leave "
                "repack_weights off, the default.")
        quiet_logs(verbose)
        self._verbose = verbose
        forget_messages()
        try:
            mparams = llama_cpp.llama_model_default_params()
            mparams.n_gpu_layers = 0
            mparams.load_mode = llama_cpp.LLAMA_LOAD_MODE_MMAP if mmap else llama_cpp.LLAMA_LOAD_MODE_NONE
            mparams.use_extra_bufts = bool(repack_weights)  # CPU weight repacking: off by default
            self._model = llama_cpp.llama_model_load_from_file(os.fsencode(self.path), mparams)
            if not self._model:
                raise BundleError(f"llama.cpp could not load {self.path}: not a valid GGUF model or "
                                  f"truncated.{recent_errors()}")
            self.n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(self._model))
            self.n_ctx_train = llama_cpp.llama_model_n_ctx_train(self._model)
            if n_ctx > self.n_ctx_train:
                raise BundleError(f"{self.path}: the prompt needs a context of {n_ctx} tokens, the "
                                  f"model was trained for {self.n_ctx_train}. Use a shorter constitution "
                                  "or a smaller max_input_tokens.")
            self.n_batch = max(1, min(n_batch, n_ctx))
            cparams = llama_cpp.llama_context_default_params()
            cparams.n_ctx = n_ctx
            cparams.n_batch = cparams.n_ubatch = self.n_batch
            cparams.n_seq_max = 1
            cparams.n_outputs_max = 1  # only the answer position's logits are ever read
            cparams.n_threads = cparams.n_threads_batch = threads
            cparams.type_k = cparams.type_v = KV_TYPES[kv_type]
            cparams.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                                       else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
            cparams.embeddings = False
            cparams.no_perf = True
            self._ctx = llama_cpp.llama_init_from_model(self._model, cparams)
            if not self._ctx:
                raise BundleError(f"llama.cpp could not create a context of {n_ctx} tokens for "
                                  f"{self.path}.{recent_errors()}")
            self.n_ctx = llama_cpp.llama_n_ctx(self._ctx)
            self._memory = llama_cpp.llama_get_memory(self._ctx)
            self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        except BaseException:
            self.close()
            raise
        self._has_logits = False
        self.n_past = 0  # tokens currently in the KV cache (one sequence, positions 0..n_past-1)

    # -- evaluation ---------------------------------------------------------------------------

    def _require_open(self) -> None:
        """ModelOutputError after :meth:`close`: the freed context must never reach llama.cpp."""
        if self._ctx is None:
            raise ModelOutputError("the llama.cpp session is closed; load the classifier again.")

    def keep(self, n_tokens: int) -> None:
        """Drop every cached token at position >= ``n_tokens`` (keeps a cached prefix)."""
        self._require_open()
        if n_tokens > self.n_past:
            raise ValueError(f"cannot keep {n_tokens} tokens, the cache holds {self.n_past}.")
        if n_tokens < self.n_past:
            if n_tokens == 0:
                self._llama.llama_memory_clear(self._memory, True)
            elif not self._llama.llama_memory_seq_rm(self._memory, 0, n_tokens, -1):
                raise ModelOutputError("llama.cpp could not trim the KV cache.")
            self.n_past = n_tokens

    def eval(self, tokens: Sequence[int], want_logits: bool = True) -> None:
        """Append ``tokens`` at the current position; logits are computed for the last one only."""
        self._require_open()
        if not tokens:
            raise ValueError("nothing to evaluate")
        if self.n_past + len(tokens) > self.n_ctx:
            raise ModelOutputError(f"{self.n_past + len(tokens)} tokens do not fit the context of "
                                   f"{self.n_ctx}; this is a bug in the caller's length check.")
        batch = self._batch
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start:start + self.n_batch]
            last_chunk = start + len(chunk) == len(tokens)
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = self.n_past + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = 0
            if last_chunk and want_logits:
                batch.logits[len(chunk) - 1] = 1
            batch.n_tokens = len(chunk)
            status = self._llama.llama_decode(self._ctx, batch)
            if status != 0:
                raise ModelOutputError(f"llama_decode failed with status {status}.{recent_errors()}")
            self.n_past += len(chunk)
        self._has_logits = want_logits

    def logits_of_last(self, token_ids: Sequence[int]) -> list[float]:
        """The last evaluated position's logits for ``token_ids`` (exact float32 values)."""
        row = self._last_row()
        return [float(row[t]) for t in token_ids]

    def all_logits_of_last(self) -> list[float]:
        """The whole vocabulary row at the last evaluated position (tests, diagnostics)."""
        row = self._last_row()
        return [float(row[t]) for t in range(self.n_vocab)]

    def _last_row(self) -> Any:
        """llama.cpp's logits row of the last evaluated position; ModelOutputError if there is none."""
        self._require_open()
        if not self._has_logits:
            raise ModelOutputError("no logits: the last eval did not request them.")
        row = self._llama.llama_get_logits_ith(self._ctx, -1)
        if not row:
            raise ModelOutputError("llama.cpp returned no logits for the last position.")
        return row

    # -- saved sequence state (the cached prefix on disk) --------------------------------------

    def save_sequence(self, path: str | os.PathLike[str], tokens: Sequence[int]) -> int:
        """Write the KV cache of the sequence (``tokens``, all of it) to ``path`` in llama.cpp's
        sequence-state format; returns the bytes written."""
        self._require_open()
        if len(tokens) != self.n_past:
            raise ValueError(f"the cache holds {self.n_past} tokens, {len(tokens)} were given.")
        array = (self._llama.llama_token * len(tokens))(*tokens)
        written = self._llama.llama_state_seq_save_file(self._ctx, os.fsencode(path), 0, array, len(tokens))
        if not written:
            raise OSError(f"llama.cpp could not write the sequence state to {path}.{recent_errors()}")
        return int(written)

    def load_sequence(self, path: str | os.PathLike[str], capacity: int) -> list[int] | None:
        """Replace the KV cache with a state written by :meth:`save_sequence`; returns its tokens,
        or None (cache left empty) when llama.cpp refuses the file (other model shape, format...).
        Only pass files whose integrity was checked: llama.cpp asserts on inconsistent ones."""
        self.keep(0)
        array = (self._llama.llama_token * max(1, capacity))()
        count = ctypes.c_size_t(0)
        read = self._llama.llama_state_seq_load_file(self._ctx, os.fsencode(path), 0, array, capacity,
                                                     ctypes.byref(count))
        if not read:
            forget_messages()  # a refused state is not an error of whatever comes next
            self._llama.llama_memory_clear(self._memory, True)
            return None
        self.n_past = int(count.value)
        self._has_logits = False
        return list(array[:self.n_past])

    # -- lifetime -----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._model is None

    def close(self) -> None:
        """Free batch, context and model (in that order). Safe to call twice; every other
        method raises ModelOutputError afterwards."""
        llama_cpp = self._llama
        self._memory = None
        self.n_past = 0
        self._has_logits = False
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx is not None:
            llama_cpp.llama_free(self._ctx)
            self._ctx = None
        if self._model is not None:
            llama_cpp.llama_model_free(self._model)
            self._model = None
        if self._verbose:
            with _lock:
                _state["verbose"] -= 1
            self._verbose = False

    def __enter__(self) -> "LlamaSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() is the contract
        try:
            self.close()
        except Exception:
            pass
