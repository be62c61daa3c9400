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
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, PLAIN_DIRECTORY_MODE & ~umask)


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
