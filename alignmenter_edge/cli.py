"""The ``alignmenter-edge`` command line: score, info, eval, explain, export, install, uninstall.

Every command ends here: an AlignmenterEdgeError or an OSError (a file that cannot be opened,
read or written) is one ``alignmenter-edge: error:`` line and exit code 2; a reader that closed
stdout (``| head``) ends the run quietly with exit code 141, as a SIGPIPE would; an interrupt
says what it left behind and exits with code 130. Standard output is always UTF-8.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import signal
import sys
import threading
from typing import Any, Iterator

from ._version import __version__
from .commands.streams import STDOUT_NAME, naming
from .errors import AlignmenterEdgeError
from .rows import shown_name

COMMANDS = ("score", "info", "eval", "explain", "export", "install", "uninstall")  # modules in alignmenter_edge/commands/
EXIT_ERROR, EXIT_BROKEN_PIPE, EXIT_INTERRUPTED = 2, 141, 130

INTERRUPTED = {  # what an interrupt leaves behind, by command
    "score": "output written so far is complete JSONL",
    "eval": "the report was not finished; its --json and --plot files may be empty",
    "export": "the export did not finish, so it wrote no bundle",
    "install": "a bundle is installed only once every file is copied and verified; `info` lists them",
    "uninstall": "`info` lists the bundles still installed",
}

OS_ERROR_FIXES = {
    errno.ENOENT: "check the path",
    errno.EACCES: "check its permissions",
    errno.EPERM: "check its permissions",
    errno.EISDIR: "give a file, not a directory",
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space or write elsewhere",
    errno.EROFS: "write elsewhere",
    errno.EFBIG: "raise the file-size limit (ulimit -f) or write to a file system that takes larger files",
}


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
    _utf8_stdout()
    try:
        with sigterm_as_interrupt():
            code = int(args.func(args) or 0)
        with naming(STDOUT_NAME):
            sys.stdout.flush()  # a full disk or closed pipe on stdout is reported here, not at exit
        return code
    except AlignmenterEdgeError as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # the reader left (`| head`): stop quietly
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        if exc.filename == STDOUT_NAME:
            _discard_stdout()
        return _fail(os_error_message(exc))
    except KeyboardInterrupt:
        left = INTERRUPTED.get(args.command)
        print(f"alignmenter-edge: interrupted{'; ' + left if left else ''}.", file=sys.stderr)
        return EXIT_INTERRUPTED


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM (``timeout``, ``docker stop``, a CI cancel) into KeyboardInterrupt, like
    Ctrl-C, so every command cleans up: score ends on a complete line, an export removes its
    multi-GB intermediates. Only in the main thread; the previous handler is restored."""
    sigterm = getattr(signal, "SIGTERM", None)
    if sigterm is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(sigterm, interrupt)
    try:
        yield
    finally:
        signal.signal(sigterm, previous)


def os_error_message(exc: OSError) -> str:
    """``NAME: reason; fix`` for a file that could not be opened, read or written (``reason; fix``
    when the error names no file: it is never guessed). Bytes of the name that are not UTF-8 are
    shown as ``\\xff`` escapes."""
    fix = OS_ERROR_FIXES.get(exc.errno, "check the path and the device")
    reason = f"{exc.strerror or exc}; {fix}."
    name = exc.filename
    if name is None:
        return reason
    return f"{shown_name(os.fsdecode(name)) if isinstance(name, (str, bytes)) else name}: {reason}"


def _fail(message: str) -> int:
    print(f"alignmenter-edge: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _utf8_stdout() -> None:
    """Write UTF-8 to stdout whatever the locale (JSON and JSONL readers expect it)."""
    if (sys.stdout.encoding or "").lower().replace("-", "") != "utf8" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")


def _discard_stdout() -> None:
    """After stdout failed, point it at /dev/null so the interpreter's final flush of what is
    still buffered cannot fail again (and print a traceback)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
