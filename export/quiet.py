"""``--quiet`` for the export commands: the libraries' own progress bars off for one export."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


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
