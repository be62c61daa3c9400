"""Small helpers for tests (import as ``from tests.helpers import ...``)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

REQUIRE_ALL = os.environ.get("ALIGNMENTER_EDGE_REQUIRE_ALL") == "1"


def require(module: str, minversion: str | None = None) -> ModuleType:
    """pytest.importorskip, except under ALIGNMENTER_EDGE_REQUIRE_ALL=1 (CI) a missing (or too old)
    module fails."""
    if not REQUIRE_ALL:
        return pytest.importorskip(module, minversion=minversion)
    found = importlib.import_module(module)
    if minversion is not None:
        from packaging.version import Version

        version = getattr(found, "__version__", "0")
        assert Version(version) >= Version(minversion), f"{module} {version} < {minversion} required"
    return found


def require_platform(condition: bool, reason: str) -> None:
    """Skip the test unless ``condition`` (a platform feature it needs) holds; under
    ALIGNMENTER_EDGE_REQUIRE_ALL=1 (CI, whose platform has them all) fail instead."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"ALIGNMENTER_EDGE_REQUIRE_ALL=1, but this platform lacks what the test needs: {reason}")
    pytest.skip(reason)


def block_network(monkeypatch: pytest.MonkeyPatch) -> list:
    """Refuse every DNS look-up and connection in this process, recording each attempt: the hub
    libraries swallow their own network errors, so a test asserts the list stays empty."""
    import socket

    attempts: list = []

    def blocked(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket, "getaddrinfo", blocked)
    monkeypatch.setattr(socket.socket, "connect", blocked)
    return attempts
