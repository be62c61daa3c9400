"""``alignmenter-edge score INPUT [-o OUT]``: add ``safety_score`` to every row, streaming."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import Iterator

from ..classifier import is_flagged
from ..errors import InvalidInputError
from ..rows import Row, RowReader, dump_row, guess_format
from .options import INPUT_WANTED, OUTPUT_WANTED, add_model_options, load_from_args, not_empty
from .streams import STDIO, open_input, open_output, refuse_same_file


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score", help="score JSONL rows or text lines; writes each row with safety_score",
        description="Read JSONL rows (e.g. alignmenter sessions) or plain text lines and write each "
                    "row back with 'safety_score' (1.0 = safe), 'flagged' (safety_score below the "
                    "model's own threshold, which `info BUNDLE` and the summary line show) and 'tier'. "
                    "Output is flushed every pool of batches, so an interrupted run leaves valid "
                    "JSONL: complete lines for the first N input rows, in order.")
    parser.add_argument("input", type=not_empty(INPUT_WANTED), help="input file, or - for standard input")
    parser.add_argument("-o", "--output", default=STDIO, type=not_empty(OUTPUT_WANTED),
                        help="output JSONL file (default: stdout)")
    add_model_options(parser)
    parser.add_argument("--text-field", default="text", type=_text_field,
                        help="JSON field holding the text; plain text lines are written back as rows with "
                             "their text in this field (default: text)")
    parser.add_argument("--format", choices=("auto", "jsonl", "text"), default=None,
                        help="input format (default: jsonl for .jsonl/.ndjson/.json files, text for "
                             ".txt, else jsonl if the first line starts with '{', else text)")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="skip malformed lines (counted and reported) instead of stopping")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    parser.set_defaults(func=run)


OUTPUT_FIELDS = ("safety_score", "flagged", "tier")


def _text_field(name: str) -> str:
    """argparse ``type=`` for --text-field: not empty and not a field the output writes (the
    scored text would be replaced by its own score)."""
    if not name:
        raise argparse.ArgumentTypeError("is empty; give the JSON field holding the text, e.g. text")
    if name in OUTPUT_FIELDS:
        raise argparse.ArgumentTypeError(
            f"{name!r} is a field score writes ({', '.join(OUTPUT_FIELDS)}): the text would be "
            "replaced by its score. Rename the field in the input, e.g. with jq, or read another one")
    return name


def run(args: argparse.Namespace) -> int:
    refuse_same_file(args.input, args.output)
    with contextlib.ExitStack() as stack:  # input and output are opened before the model loads
        source = open_input(args.input, stack)
        sink = open_output(args.output, stack)
        classifier = stack.enter_context(load_from_args(args))
        sink.begin()  # only now is an existing output file emptied: a model that fails to load leaves it
        fmt = args.format or (guess_format(args.input) if args.input != STDIO else "auto")
        reader = RowReader(source, fmt=fmt, text_field=args.text_field,
                           skip_invalid=args.skip_invalid, name=args.input)
        progress = _Progress(args, _input_size(args.input), reader)
        info = classifier.info
        for note in info.notes:  # before a long run, not after it
            print(f"note: {note}", file=sys.stderr)
        started = time.perf_counter()
        scored = blank = flagged = 0
        for pool in _chunks(iter(reader), classifier.pool_size):
            texts = [row.text for row in pool]
            scores = classifier.score_batch(texts)
            unsafe = [is_flagged(score, info.threshold) for score in scores]
            lines = "".join(dump_row({**row.data, **dict(zip(OUTPUT_FIELDS, (score, is_unsafe, info.tier)))})
                            for row, score, is_unsafe in zip(pool, scores, unsafe))
            sink.write(lines.encode("utf-8"))  # whole lines: a signal never cuts one in half
            scored += len(pool)
            blank += sum(not text.strip() for text in texts)
            flagged += sum(unsafe)
            progress.update(scored)
        progress.finish()
        elapsed = time.perf_counter() - started
    rate = scored / elapsed if elapsed > 0 else 0.0
    print(f"scored {_count(scored, 'text')} with {info.tier} ({info.model_id}, requested {info.requested}) "
          f"in {elapsed:.2f} s, {rate:.0f} texts/s; {flagged} flagged (safety_score < {info.threshold:g}"
          + (f", set by --threshold; the model's own is {info.model_threshold:g})"
             if info.threshold != info.model_threshold else ")"),
          file=sys.stderr)
    if blank:
        were, they = ("was", "it was") if blank == 1 else ("were", "they were")
        print(f"note: {_count(blank, 'text')} {were} empty or whitespace-only; {they} scored as is "
              "(the heuristic tier gives them 1.0, as alignmenter does)", file=sys.stderr)
    if reader.skipped.count:  # the examples are the faults alone, without each one's advice
        print(f"skipped {_count(reader.skipped.count, 'invalid line')}, e.g.: " + "; ".join(reader.skipped.examples),
              file=sys.stderr)
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    """Pools of ``size`` rows. On an invalid row the rows before it are yielded (so they are
    scored and written) before the error propagates."""
    pool: list[Row] = []
    try:
        for row in rows:
            pool.append(row)
            if len(pool) == size:
                yield pool
                pool = []
    except InvalidInputError:
        if pool:
            yield pool
        raise
    if pool:
        yield pool


def _input_size(path: str) -> int | None:
    try:
        return os.stat(path).st_size if path != STDIO else None
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
