"""What ``auto`` says about installed bundles it did not pick."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignmenter_edge import load_classifier
from tests import test_registry
from tests.test_registry import make_bundle

fake_roberta = test_registry.fake_roberta  # the fixture, shared


def _newer(bundle: Path, **fields) -> Path:
    manifest = bundle / "manifest.json"
    data = json.loads(manifest.read_text())
    data.update(fields)
    manifest.write_text(json.dumps(data))
    return manifest


def test_auto_names_a_stronger_bundle_it_passed_over_for_being_of_a_newer_format(
        data_home: Path, fake_roberta: None, capsys) -> None:
    """It fell back to lexicon with no note: the user's RoBERTa bundle silently unused."""
    from alignmenter_edge.alignmenter import EdgeSafetyScorer

    manifest = _newer(make_bundle(data_home / "bundles" / "prod-roberta"), format_version=2)
    clf = load_classifier("auto")
    assert clf.info.tier == "lexicon"
    assert len(clf.info.notes) == 1
    assert clf.info.notes[0].startswith(
        f"auto passed over the installed roberta-onnx bundle prod-roberta, which is not for this version: "
        f"{manifest}: bundle format version 2 is not supported")
    result = EdgeSafetyScorer().score([{"session_id": "s", "turns": [{"role": "assistant", "text": "hi"}]}])
    assert result["notes"] == list(clf.info.notes)
    assert "alignmenter-edge: auto passed over the installed roberta-onnx bundle prod-roberta" in capsys.readouterr().err


def test_auto_names_a_bundle_of_a_tier_this_version_does_not_know(data_home: Path, fake_roberta: None) -> None:
    _newer(make_bundle(data_home / "bundles" / "future"), tier="future-tier")
    (note,) = load_classifier("auto").info.notes
    assert note.startswith("auto passed over the installed future-tier bundle future, which is not for this "
                           "version: ") and "unknown tier 'future-tier'" in note


def test_auto_says_nothing_of_a_newer_bundle_of_a_weaker_tier_than_it_picked(data_home: Path,
                                                                           fake_roberta: None, monkeypatch) -> None:
    """A gguf bundle picked: an unusable roberta-onnx one would not have been chosen anyway."""
    spec = test_registry.registry.TIERS["constitutional-gguf"]
    monkeypatch.setitem(test_registry.registry.TIERS, "constitutional-gguf", test_registry.registry.TierSpec(
        spec.name, "tests.test_auto_notes:FakeGGUF", spec.description, needs_bundle=True,
        extra="gguf", modules=(), strength=spec.strength))
    make_bundle(data_home / "bundles" / "judge", tier="constitutional-gguf")
    _newer(make_bundle(data_home / "bundles" / "old-roberta"), format_version=2)
    clf = load_classifier("auto")
    assert clf.info.tier == "constitutional-gguf" and clf.info.notes == ()


class FakeGGUF(test_registry.FakeBundleClassifier):
    tier = "constitutional-gguf"


@pytest.mark.parametrize("requested", ["lexicon", "heuristic"])
def test_named_tiers_have_nothing_to_explain(data_home: Path, fake_roberta: None, requested: str) -> None:
    _newer(make_bundle(data_home / "bundles" / "prod-roberta"), format_version=2)
    assert load_classifier(requested).info.notes == ()


@pytest.mark.parametrize("tier", [None, 7, ""])
def test_a_newer_bundle_naming_no_tier_is_named_without_one(data_home: Path, fake_roberta: None, tier) -> None:
    """A tier it cannot know is stronger or weaker: auto names the bundle, and no tier for it."""
    _newer(make_bundle(data_home / "bundles" / "odd"), format_version=2, tier=tier)
    (note,) = load_classifier("auto").info.notes
    assert note.startswith("auto passed over the installed bundle odd, which is not for this version: ")
    assert test_registry.registry.scan_installed().unsupported_tiers == {}


def test_the_scan_keeps_the_tier_a_newer_bundle_declares(data_home: Path, fake_roberta: None) -> None:
    _newer(make_bundle(data_home / "bundles" / "newer"), format_version=2)
    _newer(make_bundle(data_home / "bundles" / "future"), tier="future-tier")
    installed = test_registry.registry.scan_installed()
    assert installed.unsupported_tiers == {"newer": "roberta-onnx", "future": "future-tier"}
