"""The ``alignmenter-edge`` command line: score, info, eval, explain, export, install, uninstall."""

from __future__ import annotations

import argparse
import importlib
import sys

from ._version import __version__
from .errors import AlignmenterEdgeError

COMMANDS = ("score", "info", "eval", "explain", "export", "install", "uninstall")  # modules in alignmenter_edge/commands/


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alignmenter-edge",
        description="Offline, batched safety scoring (1.0 = safe) for alignmenter and friends.")
    parser.add_argument("--version", action="version", version=f"alignmenter-edge {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AlignmenterEdgeError as exc:
        print(f"alignmenter-edge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("alignmenter-edge: interrupted; output written so far is complete JSONL.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
