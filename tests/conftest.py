"""Shared test setup.

Every module in tests/fixtures/ is loaded as a pytest plugin, so tiny models built there once per
session can be used by any test file. Set ALIGNMENTER_EDGE_REQUIRE_ALL=1 (CI does) to turn every
skip for a missing optional dependency into a failure: CI must run the whole suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch) -> Path:
    """An empty, private ALIGNMENTER_EDGE_HOME for every test (bundles, caches): no test reads or
    writes the real data directory."""
    home = tmp_path / "edge-home"
    monkeypatch.setenv("ALIGNMENTER_EDGE_HOME", str(home))
    return home
