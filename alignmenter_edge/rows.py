"""Reading input rows (JSONL or plain text lines) and writing scored rows, with clear errors.

Policies (documented in docs/bad-input.md, tested):
- JSONL: a blank line is skipped; a malformed line, a row that is not an object, a missing or
  non-string text field, or invalid UTF-8 raises InvalidInputError with the line number — or, with
  ``skip_invalid``, is skipped and counted. Messages name JSON values by JSON's names (null,
  boolean, number, string, array, object) and UTF-8 faults by the 1-based byte of the line.
- Plain text: one text per line; blank lines are separators and are skipped. Each line becomes
  the row ``{text_field: line}`` (``--text-field`` names the field the text is written back in).
- Lines end at ``\n``, ``\r\n`` or a lone ``\r`` (universal newlines, as Python's text files:
  old Mac files end lines with ``\r``), in both formats; NEL, U+2028 and U+2029 end none. A JSON
  string holds a carriage return as the escape ``\r``, so no valid JSONL row is split.
- The format: ``jsonl`` for .jsonl/.ndjson/.json files, ``text`` for .txt, else guessed from the
  first non-blank line (JSONL if it starts with ``{``). If that line is then not valid JSON, the
  guess is doubtful: it is an error even with ``skip_invalid``, naming ``--format text``.
- JSONL whose first non-blank line starts with ``[`` is a JSON array file, not one object per
  line: an error even with ``skip_invalid`` (which skipped its lines, scoring at most a last
  entry written without a comma), saying how to convert it.
- A JSON string escape that decodes to a lone surrogate (e.g. ``"\\ud800"``) is invalid Unicode:
  it cannot be tokenized or written back as UTF-8, so it is treated like invalid UTF-8.
- Empty or whitespace-only text inside a JSONL row is scored like any other text (the ``score``
  command reports how many there were). Control characters and NUL are text and are scored as is.
- One UTF-8 byte-order mark at the start of the input is dropped (Windows tools write one).
- JSON that Python reads but no strict parser does (``NaN``, ``Infinity``, a number beyond the
  float range), nesting too deep to read and integers of more than 4300 digits are malformed
  lines, so every row written back is strict JSON. So is a key that occurs twice in one object
  (Python keeps the last ``text`` or ``label``; other readers the first).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator, Literal

from .errors import InvalidInputError

InputFormat = Literal["auto", "jsonl", "text"]
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
TEXT_SUFFIXES = (".txt",)
BOM = "\ufeff"
READ_SIZE = 1 << 16  # bytes asked for per read; a pipe gives what it has
STDIO = "-"  # the path argument meaning standard input (or output); commands take it from .commands.streams
STDIN = "<stdin>"  # how every message (and eval's dataset) names standard input


@dataclass
class Row:
    """One input record: its line number, the full row, and the text to score."""

    line_no: int
    data: dict[str, Any]
    text: str


@dataclass
class SkipLog:
    """Invalid lines skipped under ``skip_invalid``: count and the first few reasons."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, reason: str) -> None:
        self.count += 1
        if len(self.examples) < 5:
            self.examples.append(reason)


class _BadLine(Exception):
    """What is wrong with a line (``problem``) and what to do about it (``fix``); RowReader adds
    where. ``stops``: an error even under ``skip_invalid``."""

    def __init__(self, problem: str, fix: str | None = None, *, stops: bool = False) -> None:
        super().__init__(problem)
        self.problem, self.fix, self.stops = problem, fix, stops


class RowReader:
    """Iterates rows of a binary stream; tracks bytes read for progress reporting.

    ``name`` is the input's path as given (``-`` is shown as ``<stdin>``). ``offer_skip``: the
    messages of skippable faults suggest ``--skip-invalid`` (true for ``score``, which has that
    option; ``eval`` has not). ``skipped`` records the faults without their advice."""

    def __init__(self, stream: BinaryIO, *, fmt: InputFormat = "auto", text_field: str = "text",
                 skip_invalid: bool = False, name: str = "<input>", offer_skip: bool = True) -> None:
        self._stream = stream
        self.fmt = fmt
        self.text_field = text_field
        self.skip_invalid = skip_invalid
        self.offer_skip = offer_skip
        self.name = shown_input(name)
        self.bytes_read = 0
        self.skipped = SkipLog()
        self._first_at: int | None = None  # the first non-blank line
        self._guessed_at: int | None = None  # the line the format was guessed from

    def __iter__(self) -> Iterator[Row]:
        try:
            for line_no, raw in enumerate(_lines(self._stream), start=1):
                self.bytes_read += len(raw)
                try:
                    row = self._parse(line_no, raw)
                except _BadLine as bad:
                    where = f"{self.name}:{line_no}: {bad.problem}"
                    if not self.skip_invalid or bad.stops:
                        raise InvalidInputError(f"{where}; {bad.fix}." if bad.fix else f"{where}.") from None
                    self.skipped.add(where)
                    continue
                if row is not None:
                    yield row
        except OSError as exc:  # a read error: name the input
            if exc.filename is None:
                exc.filename = self.name
            raise

    def _or_skip(self, fix: str) -> str:
        return f"{fix} or pass --skip-invalid" if self.offer_skip else fix

    def _parse(self, line_no: int, raw: bytes) -> Row | None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadLine(utf8_problem(exc), self._or_skip(_reencode(self.name))) from None
        line = line.rstrip("\r\n")
        if line_no == 1 and line.startswith(BOM):
            line = line[1:]
        if not line.strip():
            return None
        if self._first_at is None:
            self._first_at = line_no
            if self.fmt == "auto":
                if _opens_json_array(line):
                    raise _BadLine(f"{_the_input(self.name)} looks like a JSON array (it opens with "
                                   f"{line.strip()[:2]!r}), not JSONL or text lines",
                                   "convert it to one JSON object per line, e.g. with jq -c '.[]', or "
                                   "pass --format text if these are text lines", stops=True)
                self.fmt = "jsonl" if line.lstrip().startswith("{") else "text"
                self._guessed_at = line_no
        if self.fmt == "text":
            return Row(line_no, {self.text_field: line}, line)
        return self._parse_json(line_no, line)

    def _parse_json(self, line_no: int, line: str) -> Row:
        if line_no == self._first_at and line.lstrip().startswith("["):
            raise _BadLine(f"{_the_input(self.name)} is a JSON array, not JSONL",
                           "convert it to one JSON object per line, e.g. with jq -c '.[]'", stops=True)
        try:
            data = _strict_json(line)
        except ValueError as exc:
            if line_no == self._guessed_at:  # the format was guessed from a line that is not JSON
                skip = " or pass --format jsonl --skip-invalid" if self.offer_skip else ""
                raise _BadLine(f"malformed JSON ({exc})",
                               "the input was taken for JSONL because this line starts with '{': pass "
                               f"--format text if it is plain text lines, else fix the line{skip}",
                               stops=True) from None
            raise _BadLine(f"malformed JSON ({exc})", self._or_skip("fix the line")) from None
        if not isinstance(data, dict):
            raise _BadLine(f"expected a JSON object per line, got {json_kind(data)}")
        if "\\u" in line and _has_lone_surrogate(data):
            raise _BadLine("invalid Unicode (a \\ud800-\\udfff escape without its pair)",
                           self._or_skip("fix the line"))
        if self.text_field not in data:
            raise _BadLine(f"no {self.text_field!r} field", "choose the field with --text-field")
        text = data[self.text_field]
        if not isinstance(text, str):
            raise _BadLine(f"field {self.text_field!r} is {json_kind(text)}, expected a string")
        return Row(line_no, data, text)


def _opens_json_array(line: str) -> bool:
    """A guessed format's first line that opens a JSON array: ``[`` alone, or ``[`` then an object
    or a string (``[{"text": ...``, ``["a", ...``). ``[INST] ...`` or ``[1/3] ...`` stay text."""
    stripped = line.strip()
    return stripped == "[" or (stripped.startswith("[") and stripped[1:].lstrip()[:1] in ("{", '"'))


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    """The lines of ``stream`` with their endings, ``\n``, ``\r\n`` or a lone ``\r``. Read with
    ``read1`` (what a pipe has now, up to READ_SIZE), so lines are read as they arrive; a line
    longer than a read is joined once it ends, not copied at every read."""
    read = getattr(stream, "read1", stream.read)
    pending: list[bytes] = []  # an unended line's pieces; or a line ending in \r, which may be \r\n
    while chunk := read(READ_SIZE):
        if pending and b"\n" not in chunk and b"\r" not in chunk:
            pending.append(chunk)
            continue
        lines = (b"".join(pending) + chunk if pending else chunk).splitlines(keepends=True)
        pending = [] if lines[-1].endswith(b"\n") else [lines.pop()]
        yield from lines
    if pending:  # the last line, unended (it may hold a \r ending a line before it)
        yield from b"".join(pending).splitlines(keepends=True)


def json_kind(value: Any) -> str:
    """A JSON value's kind in JSON's words, with its article: ``null``, ``a boolean``, ``a number``,
    ``a string``, ``an array``, ``an object`` (for messages about JSON input)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def utf8_problem(exc: UnicodeDecodeError, where: str = "the line") -> str:
    """What is wrong with a line (or ``where``) that is not UTF-8; the byte is counted from 1."""
    return f"invalid UTF-8 at byte {exc.start + 1} of {where} ({exc.reason})"


def shown_name(name: str) -> str:
    """A file name or argument as it can be printed in UTF-8: bytes of it that were not UTF-8
    (which Python holds as lone surrogates) are shown as ``\\xff`` escapes."""
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte (a Windows name)
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def shown_input(path: str) -> str:
    """How messages name an input path: ``<stdin>`` for ``-``, else the name as ``shown_name`` prints it."""
    return STDIN if path == STDIO else shown_name(path)


def _the_input(name: str) -> str:
    return "the input" if name == STDIN else "the file"


def _reencode(name: str) -> str:
    return f"re-encode {_the_input(name)} as UTF-8"


def _strict_json(line: str) -> Any:
    """``json.loads`` refusing what strict JSON parsers refuse; every failure is a ValueError
    whose message says what is wrong."""
    try:
        return _STRICT_DECODER.decode(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
    except ValueError as exc:
        if isinstance(exc, _NotStrictJSON):
            raise
        raise ValueError(f"an integer of more than {sys.get_int_max_str_digits()} digits") from None


class _NotStrictJSON(ValueError):
    """A value Python's json reads but strict JSON has not."""


def _refuse_constant(name: str) -> Any:
    raise _NotStrictJSON(f"{name} is not a JSON value; write null or a string")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise _NotStrictJSON(f"the number {text[:20]} is beyond the float range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different: with a key twice, JSON readers disagree on which
    value counts (Python keeps the last), so the row could be scored on another text than shown."""
    data = dict(pairs)
    if len(data) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                shown = repr(key) if len(key) <= 40 else f"{key[:40]!r}..."
                raise _NotStrictJSON(f"the key {shown} occurs twice in one object")
            seen.add(key)
    return data


_STRICT_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float,
                                   object_pairs_hook=_unique_keys)


def _has_lone_surrogate(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def guess_format(path: str) -> InputFormat:
    """``jsonl`` for .jsonl/.ndjson/.json files, ``text`` for .txt, else ``auto`` (guess from the
    first non-blank line)."""
    lowered = path.lower()
    if lowered.endswith(JSONL_SUFFIXES):
        return "jsonl"
    return "text" if lowered.endswith(TEXT_SUFFIXES) else "auto"


_LINE_BREAKS = (("\x85", "\\u0085"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def dump_row(data: dict[str, Any]) -> str:
    """One output JSONL line (UTF-8, no ASCII escaping).

    NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR are escaped (they can only occur inside JSON
    strings), so readers that split on every Unicode line break (``str.splitlines``, JavaScript)
    still see one row per line.
    """
    line = json.dumps(data, ensure_ascii=False)
    if not line.isascii():
        for char, escape in _LINE_BREAKS:
            if char in line:
                line = line.replace(char, escape)
    return line + "\n"
