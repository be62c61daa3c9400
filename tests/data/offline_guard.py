"""Run a Python entry point with the network and unpickling blocked, recording every attempt.

Usage: python offline_guard.py LOG module:function [args...]
       python offline_guard.py LOG -c "code" [args...]

With OFFLINE_GUARD_ALLOW_SOCKETS=1 creating a socket object is allowed (some HTTP libraries
probe IPv6 support at import) and only connections, DNS look-ups and sends are refused.

An audit hook (it sees every socket operation and every pickle global lookup made from Python,
whatever library makes it) appends one line per attempt to LOG and raises, and
``socket.socket``/``socket.create_connection`` are replaced by functions that raise. A pickle of
plain data (dicts, lists, strings) looks up no global, so the audit hook never sees it: the
unpickling entry points of ``pickle`` and ``_pickle`` (``loads``, ``load``, ``Unpickler`` and the
pure-Python ``_loads``, ``_load``, ``_Unpickler``) are replaced too, by ones that record and raise.
Tests then assert that LOG is empty: nothing tried the network, nothing was unpickled.
"""

from __future__ import annotations

import _pickle
import importlib
import os
import pickle
import socket
import sys
from types import ModuleType
from typing import Callable

BLOCKED = {
    "socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
    "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg", "urllib.Request",
    "http.client.connect", "pickle.find_class",
}
UNPICKLERS = ("loads", "load", "Unpickler", "_loads", "_load", "_Unpickler")


def _refusal(what: str, record: Callable[[str], None]) -> Callable[..., None]:
    def refuse(*args: object, **kwargs: object) -> None:
        record(f"{what}()")
        raise OSError(f"offline_guard: {what} blocked")
    return refuse


def refuse_unpickling(module: ModuleType, record: Callable[[str], None]) -> None:
    """Replace ``module``'s unpickling entry points with ones that record the call and raise."""
    for name in UNPICKLERS:
        original = getattr(module, name, None)
        if original is None:
            continue
        refuse = _refusal(f"{module.__name__}.{name}", record)
        if isinstance(original, type):  # still a class (a library may subclass it at import)
            setattr(module, name, type(name, (original,), {"__init__": refuse}))
        else:
            setattr(module, name, refuse)


def install(log_path: str) -> None:
    allow_sockets = os.environ.get("OFFLINE_GUARD_ALLOW_SOCKETS") == "1"

    def record(what: str) -> None:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(what + "\n")

    def hook(event: str, args: tuple) -> None:
        if event in BLOCKED:
            record(f"{event} {args!r:.200}")
            raise OSError(f"offline_guard: {event} blocked")

    class RefusedSocket(socket.socket):
        """A subclass (ssl subclasses socket.socket at import) that refuses new sockets;
        wrapping an existing descriptor (socket.socketpair does) is still allowed."""

        def __init__(self, family: int = -1, type: int = -1, proto: int = -1,
                     fileno: int | None = None) -> None:
            if fileno is None and not allow_sockets:
                record(f"socket.socket({family}, {type})")
                raise OSError("offline_guard: network blocked")
            super().__init__(family, type, proto, fileno)

    def refuse_connection(*args: object, **kwargs: object) -> None:
        record(f"socket.create_connection {args!r:.200}")
        raise OSError("offline_guard: network blocked")

    sys.addaudithook(hook)
    refuse_unpickling(pickle, record)
    refuse_unpickling(_pickle, record)
    socket.socket = RefusedSocket  # type: ignore[misc]
    socket.create_connection = refuse_connection  # type: ignore[assignment]


def main() -> None:
    log_path, target, *rest = sys.argv[1:]
    install(log_path)
    if target == "-c":
        code, *args = rest
        sys.argv = ["-c", *args]
        exec(compile(code, "<offline_guard -c>", "exec"), {"__name__": "__main__"})
        return
    module, _, function = target.partition(":")
    sys.argv = [module, *rest]
    result = getattr(importlib.import_module(module), function)()
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
