"""Hugging Face hub access for the export stage: nothing leaves the machine unless asked.

Without ``download`` a hub id is read from the local Hugging Face cache only. ``local_files_only``
alone is not enough for that: huggingface_hub 2.x still contacts the hub once to build its
request headers (it fetches an "agent harnesses" registry). Its offline flag, read at call time,
stops that, so every load that must stay local runs inside :func:`hub_offline`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

DOWNLOAD_HINT = ("It is not in the local Hugging Face cache; pass --download to fetch it, or give "
                 "a local model directory.")


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
