"""The test helpers' CI rule: under ALIGNMENTER_EDGE_REQUIRE_ALL=1 what would be a skip fails."""

from __future__ import annotations

import sys

import pytest

import tests.helpers as helpers


@pytest.mark.parametrize("require_all, outcome", [(False, pytest.skip.Exception), (True, pytest.fail.Exception)])
def test_a_missing_platform_feature_skips_or_fails_under_require_all(monkeypatch, require_all, outcome):
    monkeypatch.setattr(helpers, "REQUIRE_ALL", require_all)
    with pytest.raises(outcome, match="needs /dev/nothing"):
        helpers.require_platform(False, "needs /dev/nothing")
    assert helpers.require_platform(True, "needs /dev/nothing") is None


@pytest.mark.parametrize("require_all, outcome", [(False, pytest.skip.Exception), (True, ImportError)])
def test_a_missing_module_skips_or_fails_under_require_all(monkeypatch, require_all, outcome):
    monkeypatch.setattr(helpers, "REQUIRE_ALL", require_all)
    monkeypatch.setitem(sys.modules, "not_installed_here", None)
    with pytest.raises(outcome):
        helpers.require("not_installed_here")
