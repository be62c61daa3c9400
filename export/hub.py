"""Hugging Face hub access for the export stage: nothing leaves the machine unless asked.

Without ``download`` a hub id is read from the local Hugging Face cache only. ``local_files_only``
alone is not enough for that: huggingface_hub 2.x still contacts the hub once to build its
request headers (it fetches an "agent harnesses" registry). Its offline flag, read at call time,
stops that, so every load that must stay local runs inside :func:`hub_offline`.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

DOWNLOAD_HINT = ("It is not in the local Hugging Face cache; pass --download to fetch it, or give "
                 "a local model directory.")


def load_failure(what: str, source: str, exc: BaseException, *, from_cache_only: bool,
                 revision: str | None, filename: str = "config.json") -> str:
    """The message for a source that failed to load. ``from_cache_only``: a hub id read without
    --download; when it is not in the cache at all (no ``filename`` at ``revision``), the
    library's own text (which talks of failing to connect, though no connection was tried) is
    replaced by what happened and the fix."""
    if from_cache_only and cached_snapshot(source, revision, filename) is None:
        return (f"cannot load {what} {source!r}: it is not in the local Hugging Face cache, and "
                "without --download nothing is fetched (no network connection was made). Pass "
                "--download to fetch it, or give a local model directory.")
    hint = " " + DOWNLOAD_HINT if from_cache_only else ""
    return f"cannot load {what} {source!r}: {str(exc).rstrip('.')}.{hint}"


_COMMIT = re.compile(r"[0-9a-f]{40}")


def snapshot_commit(path: str | Path | None) -> str | None:
    """The commit a Hugging Face cache path was read from: the 40-hex name of its
    ``snapshots/<commit>/`` directory, or None for a path outside the cache.

    transformers 5.x no longer sets ``config._commit_hash``; the snapshot path is the record of
    what was actually read.
    """
    if path is None:
        return None
    parts = Path(path).parts
    for name, commit in zip(parts, parts[1:]):
        if name == "snapshots" and _COMMIT.fullmatch(commit):
            return commit
    return None


def cached_snapshot(repo_id: str, revision: str | None, filename: str = "config.json") -> Path | None:
    """The snapshot directory of ``repo_id`` at ``revision`` (default: main) in the local Hugging
    Face cache, found through ``filename``; None when it is not cached. A pure cache lookup: no
    network access."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, filename, revision=revision)
    except Exception:  # no huggingface_hub, or an id the hub would not accept: not in the cache
        return None
    return Path(found).parent if isinstance(found, str) else None


@contextmanager
def hub_offline(active: bool) -> Iterator[None]:
    """huggingface_hub's offline mode for the duration of the block (when ``active``)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        active = False
    if not active:
        yield
        return
    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous
