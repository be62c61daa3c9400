"""Files whose sha256 was checked in full before, so an unchanged file is not hashed on every load.

Like git's index: a file counts as unchanged when its size, modification time, status-change time
(ctime, which no user call can set back), inode and device all equal what they were when it was
last hashed in full on this machine. Anything that rewrites, replaces or touches the file changes
ctime, so it is hashed again. A stamp is recorded only when the file did not change while it was
hashed and is not "racily" new (changed within the last 2 s, below what every file system's clock
resolution can tell apart). Stamps live in ``<data home>/cache/verified.json`` (at most 256);
when that cannot be read or written, every file is simply hashed.

Not covered: silent corruption that changes no metadata (bit rot). Load with ``verify="full"`` to
hash every file regardless of stamps.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

from .paths import cache_dir

MAX_STAMPS = 256
RACY_SECONDS = 2.0
FORMAT = 1


def check_verify_mode(verify: object) -> None:
    """Raise unless ``verify`` is a mode: True (stamps), False (sizes only, bundle files) or "full"
    (hash every time). By identity: 1 and 0 equal True and False but are no mode."""
    if not (verify is True or verify is False or verify == "full"):
        raise ValueError(f"verify must be True, False or 'full', got {verify!r}.")


def _stamp(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev]


class VerifiedFiles:
    """A small persistent map: absolute path → (stat stamp, sha256 found by hashing)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "verified.json"
        self._stamps: dict[str, dict] = {}
        self._dirty = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("files"), dict):
                self._stamps = data["files"]
        except (OSError, ValueError):
            pass

    def sha256(self, target: Path, hash_file: Callable[[Path], str], expected: str | None = None) -> str:
        """The file's sha256: remembered if its stamp is unchanged, else hashed (and remembered).
        A digest other than ``expected`` (when given) drops the file's stamp."""
        key = str(target)
        before = os.stat(target)
        known = self._stamps.get(key)
        if isinstance(known, dict) and known.get("stamp") == _stamp(before) and isinstance(known.get("sha256"), str):
            digest = known["sha256"]
            if expected is not None and digest != expected:
                self.forget(target)
            return digest
        digest = hash_file(target)
        if expected is not None and digest != expected:
            self.forget(target)
            return digest
        after = os.stat(target)
        fresh = time.time() - max(after.st_mtime, after.st_ctime) < RACY_SECONDS
        if _stamp(after) == _stamp(before) and not fresh:
            self._stamps.pop(key, None)
            self._stamps[key] = {"stamp": _stamp(after), "sha256": digest}
            self._dirty = True
        return digest

    def forget(self, target: Path) -> None:
        if self._stamps.pop(str(target), None) is not None:
            self._dirty = True

    def save(self) -> None:
        """Write the stamps back (newest last, at most MAX_STAMPS); failures are ignored."""
        if not self._dirty:
            return
        stamps = dict(list(self._stamps.items())[-MAX_STAMPS:])
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"format": FORMAT, "files": stamps}), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
        self._dirty = False
