"""Small helpers for tests (import as ``from tests.helpers import ...``)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

REQUIRE_ALL = os.environ.get("ALIGNMENTER_EDGE_REQUIRE_ALL") == "1"


def require(module: str) -> ModuleType:
    """pytest.importorskip, except under ALIGNMENTER_EDGE_REQUIRE_ALL=1 (CI) a missing module fails."""
    if REQUIRE_ALL:
        return importlib.import_module(module)
    return pytest.importorskip(module)
