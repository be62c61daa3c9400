"""Argument groups and argument types shared by several sub-commands."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from ..thresholds import THRESHOLD_RULE, parse_threshold


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--model, --threads, --batch-size (the load_classifier arguments)."""
    parser.add_argument("--model", "-m", default="auto", type=not_empty(MODEL_WANTED),
                        help="tier name (auto, heuristic, lexicon, roberta-onnx, constitutional-gguf, "
                             "none), installed bundle name, or bundle directory (default: auto)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads for model tiers (default: physical cores)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="texts per model batch (default: the tier's own)")
    parser.add_argument("--threshold", type=threshold_value, default=None, metavar="T",
                        help="flag texts whose safety_score is below T, in (0, 1], instead of below "
                             "the model's own threshold (eval's FPR-bounded points give such a T)")


MODEL_WANTED = "a tier name, an installed bundle's name or a bundle directory"
INPUT_WANTED = "a file, or - for standard input"
OUTPUT_WANTED = "a file, or - for standard output"


def not_empty(wanted: str) -> Callable[[str], str]:
    """argparse ``type=`` for an argument naming a file or model: an empty one is an error saying
    what to give (``--json ''`` was taken for no option at all, ``score ''`` said ``: No such file``)."""
    def named(value: str) -> str:
        if not value:
            raise argparse.ArgumentTypeError(f"is empty; give {wanted}")
        return value
    return named


def load_from_args(args: argparse.Namespace) -> Any:
    from ..registry import load_classifier

    return load_classifier(args.model, threads=args.threads, batch_size=args.batch_size,
                           threshold=args.threshold)


def positive_int(value: str) -> int:
    return _within(int(value), value, 1, None, "a positive integer")


def non_negative_int(value: str) -> int:
    return _within(int(value), value, 0, None, "0 or more")


def threshold_value(value: str) -> float:
    try:
        return parse_threshold(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {THRESHOLD_RULE}, got {value}") from None


def _within(number: Any, given: str, low: Any, high: Any, rule: str) -> Any:
    """argparse ``type=`` check: ``number`` (parsed from ``given``) must lie in [low, high]."""
    if not (low <= number and (high is None or number <= high)):  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be {rule}, got {given}")
    return number
