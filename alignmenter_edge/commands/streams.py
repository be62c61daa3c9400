"""The commands' input and output files: opened before any model loads, and written so that an
interrupt never cuts a line in half, yet a write to a reader that stopped reading can be stopped.

An OSError raised here carries the name of its file (``os.write`` errors carry none); ``cli.main``
turns it into one clear error.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import stat
import sys
from typing import BinaryIO, Iterator, TextIO

from ..errors import AlignmenterEdgeError
from ..rows import STDIO, shown_input, shown_name  # STDIO, ``-``: defined with the rows, which read it too

try:
    import fcntl
except ImportError:  # Windows: no O_APPEND flag to read back; stdout is a console writer there
    fcntl = None  # type: ignore[assignment]

STDOUT_NAME = "standard output"
STOP_SIGNALS = {signal.SIGINT, getattr(signal, "SIGTERM", signal.SIGINT)}
PIPE_BUF = getattr(select, "PIPE_BUF", 512)  # a pipe takes a write this small whole or not at all
WAIT_MS = 100  # while the output takes nothing, check for a stop signal this often
GRACE_WAITS = 10  # inside a long line, give up after this many waits with a stop signal pending


def refuse_same_file(input_path: str, output_path: str) -> None:
    """Refuse an output that is the input file (also through a symlink or a hard link): opening
    it for writing would empty the input before it is read. ``-`` is stdin / stdout."""
    source, target = _regular_file(input_path, 0), _regular_file(output_path, 1)
    if source and target and (source.st_dev, source.st_ino) == (target.st_dev, target.st_ino):
        raise AlignmenterEdgeError(
            f"the output ({_shown(output_path, STDOUT_NAME)}) and the input "
            f"({shown_input(input_path)}) are the same file; writing it would destroy the "
            "input before it is read. Write to another file.")


def _regular_file(path: str, fd: int) -> os.stat_result | None:
    """Its stat if ``path`` (``-``: the descriptor ``fd``) is an existing regular file."""
    try:
        found = os.fstat(fd) if path == STDIO else os.stat(path)
    except OSError:  # an absent output is no input; an absent input fails when it is opened
        return None
    return found if stat.S_ISREG(found.st_mode) else None


def _shown(path: str, stdio: str) -> str:
    return stdio if path == STDIO else shown_name(path)


def open_input(path: str, stack: contextlib.ExitStack) -> BinaryIO:
    """The input as a binary stream (``-``: stdin), closed with ``stack``."""
    if path == STDIO:
        return sys.stdin.buffer
    return stack.enter_context(open(path, "rb"))


def open_output(path: str, stack: contextlib.ExitStack) -> LineWriter | TextWriter:
    """The output (``-``: stdout), opened now so an unusable path fails before any model loads,
    but emptied only by ``begin()``: a run that fails before it (a model that does not load)
    leaves an existing file as it was, and removes a file it created. Closed with ``stack``."""
    if path != STDIO:
        fd, created = _open_untruncated(path)
        writer = LineWriter(fd, path)
        stack.callback(os.close, fd)
        stack.callback(writer.discard_unless_begun, path if created else None)
        return writer
    if not hasattr(signal, "pthread_sigmask"):  # Windows: the console writer, not raw bytes
        return TextWriter(sys.stdout)
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a stdout without a descriptor (in-process capture)
        return TextWriter(sys.stdout)
    sys.stdout.flush()
    return LineWriter(fd, STDOUT_NAME, begun=True)


def check_writable(path: str) -> None:
    """Fail now (OSError naming ``path``) if ``path`` cannot be written, without emptying it."""
    fd, created = _open_untruncated(path)
    os.close(fd)
    if created:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _open_untruncated(path: str) -> tuple[int, bool]:
    """A descriptor for writing ``path`` (created if missing, never truncated) and whether it was created."""
    created = not os.path.lexists(path)
    if os.path.isdir(path):
        raise IsADirectoryError(21, "Is a directory", path)
    return os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666), created


@contextlib.contextmanager
def naming(name: str) -> Iterator[None]:
    """Give an OSError raised inside the name of the file it concerns, if it has none."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = name
        raise


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM; a held signal is delivered when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _stop_pending() -> bool:
    """A SIGINT/SIGTERM is held that will stop the run: one whose handler ignores it (``nohup``,
    ``trap '' INT``) is dropped when unblocked, so it must not stop the write either."""
    return any(signal.getsignal(number) is not signal.SIG_IGN for number in signal.sigpending() & STOP_SIGNALS)


class LineWriter:
    """Writes UTF-8 bytes of whole lines to a file descriptor, with SIGINT/SIGTERM held.

    A regular file takes each write at once; if it fails (disk full) the file is cut back to its
    last complete line. A terminal is written directly, signals not held. Anything else (a pipe,
    FIFO) is written in pieces of whole lines up to PIPE_BUF bytes, each only once the output can
    take it, so the write never blocks with the signals held: a stop signal ends it at the next line boundary, and inside a line longer
    than PIPE_BUF only after the output took nothing for GRACE_WAITS x WAIT_MS.
    """

    def __init__(self, fd: int, name: str, *, begun: bool = False) -> None:
        self.fd, self.name, self.begun = fd, name, begun
        self.is_file = stat.S_ISREG(os.fstat(fd).st_mode)
        # opened for append (``>> file``): every write goes to the file's end, wherever the offset is
        self.appends = self.is_file and fcntl is not None and bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND)
        # written in one go: a file, or where pieces cannot be waited for (no sigmask or poll)
        self.whole = self.is_file or not hasattr(signal, "pthread_sigmask") or not hasattr(select, "poll")
        # A terminal is read by a person: Ctrl-C there must work at once (poll cannot tell a
        # stalled terminal on every system, e.g. macOS), and a cut line on screen loses nothing.
        self.terminal = os.isatty(fd)

    def begin(self) -> None:
        """Empty the file (once the run is sure to start): nothing written before this."""
        if not self.begun:
            with naming(self.name):
                if self.is_file:
                    os.ftruncate(self.fd, 0)
            self.begun = True

    def discard_unless_begun(self, created: str | None) -> None:
        """At close: a file this run created but never began is removed again."""
        if not self.begun and created is not None:
            with contextlib.suppress(OSError):
                os.unlink(created)

    def write(self, data: bytes) -> None:
        self.begin()
        with naming(self.name):
            if self.terminal:
                _write_all(self.fd, data)
                return
            with signals_deferred():
                stopped = self._write_whole(data) if self.whole else self._write_pieces(data)
            if stopped:  # a stop signal was pending and is not ignored: its handler ran on unblock,
                raise KeyboardInterrupt  # or, if it did not raise, the run must still stop here

    def _write_whole(self, data: bytes) -> bool:
        end = self._end() if self.is_file else None
        try:
            _write_all(self.fd, data)
        except OSError:
            if end is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self.fd, end)
            raise
        return False

    def _end(self) -> int:
        """Where this write starts, so a failed one is cut back there: for an appended file its
        size now, not the offset (0 before the first write, or behind another process's appends)."""
        if self.appends:
            return os.fstat(self.fd).st_size
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def _write_pieces(self, data: bytes) -> bool:
        """True when a stop signal ended the write early (at a line boundary, or inside a long line
        after the grace period)."""
        ready = select.poll()
        ready.register(self.fd, select.POLLOUT)
        for piece, starts_line in _pieces(data, PIPE_BUF):
            if starts_line and _stop_pending():
                return True
            waits = 0
            while not ready.poll(WAIT_MS):
                if _stop_pending():
                    if starts_line or waits == GRACE_WAITS:
                        return True
                    waits += 1
            _write_all(self.fd, piece)
        return False


class TextWriter:
    """Writes to a text stream that has no file descriptor (stdout captured in-process)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def begin(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode("utf-8"))
        self.stream.flush()


def _pieces(data: bytes, size: int) -> Iterator[tuple[bytes, bool]]:
    """``data`` in pieces of at most ``size`` bytes: as many whole lines as fit, else part of one
    long line; each with whether it starts a line."""
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + size) + 1
        if end <= start:
            end = min(start + size, len(data))
        yield data[start:end], start == 0 or data[start - 1:start] == b"\n"
        start = end


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
