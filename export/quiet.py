"""What the export commands print as they go, and what ``--quiet`` turns off."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def export_progress(quiet: bool) -> Iterator[Callable[[str], None]]:
    """The export's progress reporter: each line to stderr; with ``quiet``, nothing, the
    libraries' progress bars included (restored when the export ends)."""
    if not quiet:
        yield lambda message: print(message, file=sys.stderr)
        return
    with no_progress_bars():
        yield lambda message: None


@contextmanager
def no_progress_bars() -> Iterator[None]:
    """Turn off transformers' ("Loading weights") and huggingface_hub's (downloads) progress bars,
    and restore each to what it was afterwards."""
    try:
        from huggingface_hub import utils as hub_utils
        from transformers.utils import logging as transformers_logging
    except ImportError:  # the export itself then says which extra to install
        yield
        return
    transformers_was_on = transformers_logging.is_progress_bar_enabled()
    hub_was_off = hub_utils.are_progress_bars_disabled()
    transformers_logging.disable_progress_bar()
    hub_utils.disable_progress_bars()
    try:
        yield
    finally:
        if transformers_was_on:
            transformers_logging.enable_progress_bar()
        if not hub_was_off:
            hub_utils.enable_progress_bars()
