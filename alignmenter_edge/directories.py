"""Replacing a bundle directory in one step, for ``install --force`` and ``export --force``.

A directory cannot be renamed onto a non-empty one, so the old bundle is first renamed to a
hidden directory beside it, the new one renamed into its place, and only then is the old one
deleted. On any failure or interrupt before the new one is in place, the old one is put back; if
even that fails, it is left where it is and the error says where.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


PLAIN_DIRECTORY_MODE = 0o755


def give_plain_directory_mode(path: Path) -> None:
    """``0o755`` minus the umask, as ``mkdir`` would give: ``mkdtemp`` makes its directories 0700,
    which would keep other users (a service account, a container's user) from reading a bundle."""
    os.chmod(path, PLAIN_DIRECTORY_MODE & ~current_umask())


def current_umask() -> int:
    """The process's umask, read without changing it where Linux reports it (``/proc/self/status``);
    elsewhere set and restored, which leaves other threads a moment at the probe value."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o077)  # the probe value errs towards private, never towards world-writable
    os.umask(umask)
    return umask


def swap_directory(new: Path, target: Path) -> None:
    """Put ``new`` where the existing directory ``target`` is (same file system), then delete the
    old ``target``; OSError if that cannot be done, with ``target`` unchanged or its location named."""
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.replaced-", dir=target.parent))
    old = aside / target.name
    try:
        os.rename(target, old)
    except BaseException:
        aside.rmdir()
        raise
    try:
        os.rename(new, target)
    except BaseException as exc:
        try:
            os.rename(old, target)
        except OSError as undo:
            raise OSError(f"the new {target.name} could not be moved to {target}, and the old one "
                          f"could not be put back ({undo}); the old one is at {old}") from exc
        aside.rmdir()
        raise
    shutil.rmtree(aside, ignore_errors=True)
