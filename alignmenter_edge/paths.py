"""Where bundles live: an offline-first data directory the user controls (never /tmp)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import BundleError

HOME_ENV = "ALIGNMENTER_EDGE_HOME"


def data_home() -> Path:
    """The data directory: $ALIGNMENTER_EDGE_HOME, else $XDG_DATA_HOME/alignmenter-edge,
    else ~/.local/share/alignmenter-edge."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "alignmenter-edge"


def bundles_dir() -> Path:
    """Directory holding installed bundles, one sub-directory per bundle name (it need not exist
    yet; :func:`checked_bundles_dir` refuses one that cannot be a directory)."""
    return data_home() / "bundles"


def checked_bundles_dir() -> Path:
    """:func:`bundles_dir`, or BundleError when it, the data directory or one of their parents
    exists and is not a directory: no bundle can be found or installed there, which is not
    "nothing installed" (``auto`` would run on a stdlib tier without a word)."""
    path = bundles_dir()
    home = path.parent
    for existing in (path, *path.parents):
        if not existing.exists():
            continue
        if existing.is_dir():
            return path
        named = f"{HOME_ENV}={home}" if os.environ.get(HOME_ENV) else f"the data directory {home}"
        if existing == home:
            raise BundleError(f"{named} is not a directory; point {HOME_ENV} at a directory, or move "
                              "that file away.")
        raise BundleError(f"{named}: {existing} is not a directory, so no bundle can be found or "
                          f"installed there; move it away, or point {HOME_ENV} at another directory.")
    return path


def cache_dir() -> Path:
    """What makes later starts fast (saved prefixes, verified-file stamps); safe to delete."""
    return data_home() / "cache"
