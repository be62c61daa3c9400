"""Argument groups shared by several sub-commands."""

from __future__ import annotations

import argparse
from typing import Any


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--model, --threads, --batch-size (the load_classifier arguments)."""
    parser.add_argument("--model", "-m", default="auto",
                        help="tier name (auto, heuristic, lexicon, roberta-onnx, constitutional-gguf, "
                             "none), installed bundle name, or bundle directory (default: auto)")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help="CPU threads for model tiers (default: physical cores)")
    parser.add_argument("--batch-size", type=_positive_int, default=None,
                        help="texts per model batch (default: the tier's own)")


def load_from_args(args: argparse.Namespace) -> Any:
    from ..registry import load_classifier

    return load_classifier(args.model, threads=args.threads, batch_size=args.batch_size)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return number
