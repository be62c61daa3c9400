"""A disk cache of the constitutional tier's evaluated prefix (llama.cpp sequence state).

Evaluating the ~1.5k-token constitution is most of the tier's start-up (tens of seconds on two
CPU cores). After the first evaluation its KV cache is written to
``<data home>/cache/prefix-states/<key>.state`` (llama.cpp's own sequence-state format, raw
tensors, no pickle) with a ``<key>.json`` record beside it; later starts read it back instead.

The key is a sha256 over everything the state depends on: the model file's sha256 (from the
bundle manifest), the prefix token ids, context size, KV-cache type, flash attention, weight
repacking, batch size, threads and the llama-cpp-python version. A state is used only when

1. its record has this key and prefix length, and the state file has the recorded size and sha256
   (llama.cpp aborts the process on some inconsistent files, so by default nothing unchecked
   reaches it; how the sha256 is checked follows ``verify``, below);
2. llama.cpp accepts it and returns exactly the prefix tokens;
3. a probe item scored on top of it gives the label logits recorded when the state was made from
   a real evaluation (within 1e-4): a state that loads but computes differently is never used.

The sha256 in 1. is checked by the ``verify`` mode the bundle was read with (``load_classifier(...,
verify=...)``):

* ``True`` (default) and ``False``: through the verified-file stamps (:mod:`alignmenter_edge.verified`,
  the same ``<data home>/cache/verified.json`` as the bundle files), so a restart does not hash the
  ~170 MB file again while its size, mtime, ctime, inode and device are those it had when it was
  last hashed in full on this machine. A state just written is "racily new" and not stamped: the
  next start hashes it once and stamps it. Rewriting or replacing the file changes its ctime, so
  it is hashed again and a wrong digest rejects it (and drops the stamp). Not caught without
  hashing, as for the bundle files: corruption that changes no metadata (bit rot).
  ``verify=False`` skips hashing the *bundle's* files, which the caller vouches for; this cache is
  the library's own, and llama.cpp can abort the process on an inconsistent state, which would
  then happen at every start, so it is checked even then (stamps make that cost nothing).
* ``"full"``: hashed on every restore, stamps neither read nor written.

Anything else is a miss: the prefix is evaluated as without a cache and the entry is rewritten.
A cache that cannot be written (read-only disk, full disk) warns once and costs nothing else.
The ``max_entries`` most recently used states are kept (each is n_prefix x layers x KV width;
~170 MB for Qwen3-1.7B with a 1.5k-token prefix and an F16 KV cache). Eviction deletes only this
cache's own entries (a ``<64 hex digits>.json`` record of this format and its ``.state``), so the
directory may hold other files.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..bundle import sha256_file
from ..paths import cache_dir
from ..verified import VerifiedFiles, check_verify_mode

FORMAT = 1
PROBE_TOLERANCE = 1e-4
DEFAULT_MAX_ENTRIES = 2
STALE_TEMP_SECONDS = 3600.0  # a temp file this old belongs to a save that died


def default_directory() -> Path:
    return cache_dir() / "prefix-states"


def disk_usage(directory: Path | None = None) -> dict[str, Any]:
    """How many saved states ``directory`` (default: the data home's) holds, and their size."""
    directory = directory or default_directory()
    try:
        sizes = ([p.stat().st_size for p in directory.glob("*.state") if _OWN_KEY.fullmatch(p.stem)]
                 if directory.is_dir() else [])
    except OSError:
        sizes = []
    return {"dir": str(directory), "entries": len(sizes), "bytes": sum(sizes)}


def state_key(material: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of what the state depends on."""
    return hashlib.sha256(json.dumps(dict(material), sort_keys=True).encode()).hexdigest()


def _same_logits(recorded: Sequence[float], measured: Sequence[float]) -> bool:
    return len(recorded) == len(measured) and all(
        math.isfinite(b) and abs(a - b) <= PROBE_TOLERANCE * max(1.0, abs(a))
        for a, b in zip(recorded, measured))


def _is_int(value: Any) -> bool:
    return type(value) is int  # JSON integers only: not a bool, not 1.0


def _valid_record(record: Any) -> bool:
    """``record`` has every field of this format with its JSON type: a record that is valid JSON
    but holds e.g. a null among the probe logits is a miss like any other, never a TypeError."""
    if not isinstance(record, dict):
        return False
    logits = record.get("probe_logits")
    sha256 = record.get("sha256")
    return (_is_int(record.get("format")) and record["format"] == FORMAT
            and isinstance(record.get("key"), str) and bool(_OWN_KEY.fullmatch(record["key"]))
            and _is_int(record.get("n_tokens")) and record["n_tokens"] >= 0
            and _is_int(record.get("size")) and record["size"] >= 0
            and isinstance(sha256, str) and bool(_SHA256.fullmatch(sha256))
            and isinstance(logits, list) and len(logits) > 0
            and all(type(x) in (int, float) and math.isfinite(x) for x in logits))


@dataclass(frozen=True)
class PrefixStateCache:
    """Saved prefix states in one directory; see the module docstring for when one is used."""

    directory: Path
    max_entries: int = DEFAULT_MAX_ENTRIES
    verify: bool | str = True  # how the state file's sha256 is checked: "full" hashes, else stamps

    def __post_init__(self) -> None:
        check_verify_mode(self.verify)

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.directory / f"{key}.state", self.directory / f"{key}.json"

    def restore(self, session: Any, key: str, prefix_ids: Sequence[int],
                probe: Callable[[], Sequence[float]]) -> bool:
        """Load the saved state for ``key`` into ``session``; False (cache empty) on any miss."""
        state_path, record_path = self._paths(key)
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            if (not _valid_record(record) or record["key"] != key
                    or record["n_tokens"] != len(prefix_ids)
                    or state_path.stat().st_size != record["size"]
                    or not self._digest_matches(state_path, record["sha256"])):
                return False
        except (OSError, ValueError):
            return False
        tokens = session.load_sequence(state_path, len(prefix_ids))
        if tokens != list(prefix_ids):
            session.keep(0)
            return False
        if not _same_logits(record["probe_logits"], probe()):
            session.keep(0)
            return False
        session.keep(len(prefix_ids))
        try:
            os.utime(record_path)  # most recently used
        except OSError:
            pass
        return True

    def _digest_matches(self, state_path: Path, recorded: Any) -> bool:
        """The state file's sha256 equals ``recorded`` (per ``verify``; see the module docstring)."""
        if self.verify == "full":
            return sha256_file(state_path) == recorded
        stamps = VerifiedFiles()
        try:
            return stamps.sha256(state_path.absolute(), sha256_file, expected=recorded) == recorded
        finally:
            stamps.save()

    def save(self, session: Any, key: str, prefix_ids: Sequence[int],
             probe: Callable[[], Sequence[float]]) -> bool:
        """Write the session's evaluated prefix for ``key``; warns and returns False on failure."""
        state_path, record_path = self._paths(key)
        state_tmp = state_path.with_name(f"{state_path.name}.{os.getpid()}.tmp")
        record_tmp = record_path.with_name(f"{record_path.name}.{os.getpid()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            session.save_sequence(state_tmp, prefix_ids)
            logits = [float(x) for x in probe()]
            session.keep(len(prefix_ids))
            record = {"format": FORMAT, "key": key, "n_tokens": len(prefix_ids),
                      "size": state_tmp.stat().st_size, "sha256": sha256_file(state_tmp),
                      "probe_logits": logits}
            record_tmp.write_text(json.dumps(record), encoding="utf-8")
            os.replace(state_tmp, state_path)
            os.replace(record_tmp, record_path)
        except BaseException as exc:  # a model error or an interrupt must not leave a ~170 MB temp file
            for leftover in (state_tmp, record_tmp):
                _remove(leftover)
            if not isinstance(exc, OSError):
                raise
            warnings.warn(f"could not save the constitution's evaluated prefix under {self.directory} "
                          f"({exc}); scoring is unaffected, but the next start evaluates it again. "
                          "Make the directory writable, or pass prefix_state_cache=False.",
                          RuntimeWarning, stacklevel=3)
            return False
        self._evict(keep=key)
        return True

    def _evict(self, keep: str) -> None:
        """Remove all but the ``max_entries`` most recently used states (never ``keep``), and temp
        files that a killed process left behind (older than STALE_TEMP_SECONDS: a save takes seconds).

        Only this cache's own files are touched: ``<key>.json`` records named by a 64-hex-digit key
        and holding a record of this format (the ``.state`` beside them), and their temp files. The
        directory may be one the caller also keeps other files in (``prefix_state_cache=DIR``)."""
        try:
            records = sorted((p for p in self.directory.glob("*.json") if _is_own_record(p)),
                             key=lambda p: p.stat().st_mtime, reverse=True)
            temps = [(p, p.stat().st_mtime) for p in self.directory.glob("*.tmp")
                     if _OWN_TEMP.fullmatch(p.name)]
        except OSError:
            return
        for temp, modified in temps:
            if time.time() - modified > STALE_TEMP_SECONDS:
                _remove(temp)
        kept = 1
        for record in records:
            if record.stem == keep:
                continue
            if kept < self.max_entries:
                kept += 1
                continue
            _remove(record)
            _remove(record.with_suffix(".state"))


_OWN_KEY = re.compile(r"[0-9a-f]{64}")
_SHA256 = _OWN_KEY
_OWN_TEMP = re.compile(r"[0-9a-f]{64}\.(?:state|json)\.[0-9]+\.tmp")


def _is_own_record(path: Path) -> bool:
    """``path`` is a record this cache wrote: named ``<64 hex digits>.json``, holding a JSON object
    of this format whose key is its name. Anything else in the directory is not ours to delete."""
    if not _OWN_KEY.fullmatch(path.stem):
        return False
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(record, dict) and type(record.get("format")) is int
            and record["format"] == FORMAT and record.get("key") == path.stem)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
