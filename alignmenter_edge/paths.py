"""Where bundles live: an offline-first data directory the user controls (never /tmp)."""

from __future__ import annotations

import os
from pathlib import Path

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
    """Directory holding installed bundles, one sub-directory per bundle name."""
    return data_home() / "bundles"


def cache_dir() -> Path:
    """What makes later starts fast (saved prefixes, verified-file stamps); safe to delete."""
    return data_home() / "cache"
