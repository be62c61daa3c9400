"""``alignmenter-edge score INPUT [-o OUT]``: add ``safety_score`` to every row, streaming."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from itertools import islice
from typing import BinaryIO, Iterator, TextIO

from ..rows import Row, RowReader, dump_row, guess_format
from .options import add_model_options, load_from_args

POOL_BATCHES = 8  # rows read per flush = batch_size * POOL_BATCHES (lets tiers sort by length)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score", help="score JSONL rows or text lines; writes each row with safety_score",
        description="Read JSONL rows (e.g. alignmenter sessions) or plain text lines and write each "
                    "row back with 'safety_score' (1.0 = safe) and 'tier'. Output is flushed per "
                    "batch, so an interrupted run leaves valid JSONL.")
    parser.add_argument("input", help="input file, or - for standard input")
    parser.add_argument("-o", "--output", default="-", help="output JSONL file (default: stdout)")
    add_model_options(parser)
    parser.add_argument("--text-field", default="text", help="JSON field holding the text (default: text)")
    parser.add_argument("--format", choices=("auto", "jsonl", "text"), default=None,
                        help="input format (default: by file suffix, else sniff the first line)")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="skip malformed lines (counted and reported) instead of stopping")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    classifier = load_from_args(args)
    with classifier, contextlib.ExitStack() as stack:
        source = _open_input(args.input, stack)
        sink = _open_output(args.output, stack)
        fmt = args.format or (guess_format(args.input) if args.input != "-" else "auto")
        reader = RowReader(source, fmt=fmt, text_field=args.text_field,
                           skip_invalid=args.skip_invalid, name=args.input)
        progress = _Progress(args, _input_size(args.input), reader)
        info = classifier.info
        started = time.perf_counter()
        scored = 0
        for pool in _chunks(iter(reader), classifier.batch_size * POOL_BATCHES):
            scores = classifier.score_batch([row.text for row in pool])
            sink.write("".join(dump_row({**row.data, "safety_score": score, "tier": info.tier})
                               for row, score in zip(pool, scores)))
            sink.flush()
            scored += len(pool)
            progress.update(scored)
        progress.finish()
        elapsed = time.perf_counter() - started
    rate = scored / elapsed if elapsed > 0 else 0.0
    print(f"scored {scored} texts with {info.tier} ({info.model_id}, requested {info.requested}) "
          f"in {elapsed:.2f} s, {rate:.0f} texts/s", file=sys.stderr)
    if reader.skipped.count:
        print(f"skipped {reader.skipped.count} invalid lines, e.g.: " + "; ".join(reader.skipped.examples),
              file=sys.stderr)
    return 0


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while pool := list(islice(rows, size)):
        yield pool


def _open_input(path: str, stack: contextlib.ExitStack) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    return stack.enter_context(open(path, "rb"))


def _open_output(path: str, stack: contextlib.ExitStack) -> TextIO:
    if path == "-":
        return sys.stdout
    return stack.enter_context(open(path, "w", encoding="utf-8", newline="\n"))


def _input_size(path: str) -> int | None:
    try:
        return os.stat(path).st_size if path != "-" else None
    except OSError:
        return None


class _Progress:
    """A one-line progress report on stderr, only when stderr is a terminal."""

    def __init__(self, args: argparse.Namespace, total_bytes: int | None, reader: RowReader) -> None:
        self.enabled = not args.no_progress and sys.stderr.isatty()
        self.total_bytes = total_bytes
        self.reader = reader
        self.started = time.perf_counter()

    def update(self, scored: int) -> None:
        if not self.enabled:
            return
        rate = scored / max(time.perf_counter() - self.started, 1e-9)
        done = f" {100 * self.reader.bytes_read / self.total_bytes:5.1f}%" if self.total_bytes else ""
        sys.stderr.write(f"\r{scored} texts scored{done}, {rate:.0f} texts/s")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
