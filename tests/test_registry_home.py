"""A data directory (ALIGNMENTER_EDGE_HOME) that cannot be one: an error naming it, never "nothing
installed" (auto silently on lexicon) or a bare Errno 20."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import alignmenter_edge.registry as registry
from alignmenter_edge import install_bundle, load_classifier
from alignmenter_edge.errors import BundleError
from tests.test_registry import make_bundle


def _all_refuse(tmp_path: Path, match: str) -> None:
    for requested in ("auto", "roberta-onnx", "mybundle"):
        with pytest.raises(BundleError, match=match):
            load_classifier(requested)
    with pytest.raises(BundleError, match=match):
        registry.available_tiers()
    with pytest.raises(BundleError, match=r"cannot install .* into .*: \[Errno (17|20)\] "):
        install_bundle(make_bundle(tmp_path / "b"), name="x")  # its own message (test_install.py)
    assert load_classifier("heuristic").info.tier == "heuristic"  # no bundle needed, none looked for
    assert load_classifier("none").info.tier == "none"


def test_a_home_that_is_a_file_is_named(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home.txt"
    home.write_text("not a directory\n")
    monkeypatch.setenv("ALIGNMENTER_EDGE_HOME", str(home))
    _all_refuse(tmp_path, rf"ALIGNMENTER_EDGE_HOME={re.escape(str(home))} is not a directory; point "
                          r"ALIGNMENTER_EDGE_HOME at a directory")


def test_a_home_inside_a_file_is_named(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "file").write_text("x")
    home = tmp_path / "file" / "edge"
    monkeypatch.setenv("ALIGNMENTER_EDGE_HOME", str(home))
    _all_refuse(tmp_path, rf"ALIGNMENTER_EDGE_HOME={re.escape(str(home))}: {re.escape(str(tmp_path / 'file'))} "
                          r"is not a directory")


def test_a_bundles_entry_that_is_a_file_is_named(tmp_path: Path, data_home: Path) -> None:
    data_home.mkdir()
    (data_home / "bundles").write_text("x")
    _all_refuse(tmp_path, rf"ALIGNMENTER_EDGE_HOME={re.escape(str(data_home))}: "
                          rf"{re.escape(str(data_home / 'bundles'))} is not a directory")


def test_the_default_home_is_named_when_no_variable_is_set(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ALIGNMENTER_EDGE_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    (tmp_path / "alignmenter-edge").write_text("x")
    with pytest.raises(BundleError, match=rf"the data directory {re.escape(str(tmp_path / 'alignmenter-edge'))} "
                                          r"is not a directory; point ALIGNMENTER_EDGE_HOME at a directory"):
        load_classifier("auto")


def test_a_home_not_yet_made_is_fine(data_home: Path) -> None:
    assert not data_home.exists()
    assert load_classifier("auto").info.tier == "lexicon"
    assert registry.installed_bundles() == {}
