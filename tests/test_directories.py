"""swap_directory: the one way install --force and export --force replace a bundle directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alignmenter_edge.directories import swap_directory


def _dir(path: Path, content: str) -> Path:
    path.mkdir()
    (path / "model.onnx").write_text(content)
    return path


def test_the_new_directory_takes_the_place_of_the_old_one_and_nothing_is_left(tmp_path: Path) -> None:
    target, new = _dir(tmp_path / "bundle", "old"), _dir(tmp_path / ".stage", "new")
    swap_directory(new, target)
    assert (target / "model.onnx").read_text() == "new" and sorted(os.listdir(tmp_path)) == ["bundle"]


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_or_interrupted_swap_puts_the_old_directory_back(tmp_path: Path, monkeypatch, failure) -> None:
    target, new = _dir(tmp_path / "bundle", "old"), _dir(tmp_path / ".stage", "new")
    real_rename = os.rename

    def rename(src, dst):
        if Path(src) == new:
            raise failure
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(type(failure)):
        swap_directory(new, target)
    assert (target / "model.onnx").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == [".stage", "bundle"]  # no hidden directory left


def test_when_even_the_old_directory_cannot_go_back_it_is_kept_and_named(tmp_path: Path, monkeypatch) -> None:
    target, new = _dir(tmp_path / "bundle", "old"), _dir(tmp_path / ".stage", "new")
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append(Path(src))
        if len(calls) >= 2:  # the move of the new one in, and the move back
            raise OSError(5, "Input/output error")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match=r"could not be put back .*; the old one is at .*\.bundle\.replaced-.*/bundle"):
        swap_directory(new, target)
    kept = [p for p in tmp_path.glob(".bundle.replaced-*/bundle")]
    assert len(kept) == 1 and (kept[0] / "model.onnx").read_text() == "old"  # never deleted
