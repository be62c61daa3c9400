"""What a name given to load_classifier (and the alignmenter drop-in) means: a tier, an installed
bundle, or a path; and the names that are refused instead of guessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignmenter_edge import UnknownModelError, load_classifier
from alignmenter_edge.errors import BundleError
from tests import test_registry
from tests.test_registry import make_bundle

fake_roberta = test_registry.fake_roberta  # the fixture, shared


def _loaders():
    from alignmenter_edge.alignmenter import load_safety_classifier

    return (load_classifier, load_safety_classifier)


# --- a bundle directory whose name is a tier's --------------------------------------------------

@pytest.mark.parametrize("name", ["none", "roberta-onnx", "Lexicon", "auto", "HEURISTIC"])
def test_a_path_is_always_a_path_even_when_its_name_is_a_tiers(tmp_path: Path, monkeypatch,
                                                                fake_roberta: None, name: str) -> None:
    """Path('none') loaded the none tier (every text 1.0), Path('roberta-onnx') looked for an
    installed bundle, and Path('Lexicon') was the bundle for load_classifier but the lexicon tier
    for the drop-in."""
    from alignmenter_edge.alignmenter import EdgeSafetyScorer

    bundle = make_bundle(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    for load in _loaders():
        clf = load(Path(name))
        assert clf.info.tier == "roberta-onnx", load
        assert Path(clf.info.bundle_path).resolve() == bundle.resolve()
        assert clf("abc") == pytest.approx(0.25)
        assert Path(load(f"./{name}").info.bundle_path).resolve() == bundle.resolve()
        assert Path(load(str(bundle)).info.bundle_path).resolve() == bundle.resolve()
    scorer = EdgeSafetyScorer(Path(name))
    assert scorer.classifier.info.tier == "roberta-onnx"


@pytest.mark.parametrize("name", ["none", "roberta-onnx", "Lexicon", "auto", "HEURISTIC"])
def test_a_tier_name_that_is_also_a_bundle_directory_here_is_refused(tmp_path: Path, monkeypatch,
                                                                      fake_roberta: None, name: str) -> None:
    make_bundle(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    for load in _loaders():
        with pytest.raises(BundleError, match=rf"'{name}' reads as the '{name.lower()}' tier.*"
                                              rf"{tmp_path / name} in the working directory is a bundle "
                                              rf"directory.*refusing to guess.*pass '\./{name}'"):
            load(name)


def test_the_drop_in_refuses_alignmenters_roberta_name_when_it_is_a_directory_here(
        tmp_path: Path, monkeypatch, fake_roberta: None) -> None:
    from alignmenter_edge.alignmenter import load_safety_classifier

    make_bundle(tmp_path / "distilled-safety-roberta")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BundleError, match=r"'distilled-safety-roberta' reads as the 'roberta-onnx' tier, but"):
        load_safety_classifier("distilled-safety-roberta")
    assert load_safety_classifier("./distilled-safety-roberta").info.tier == "roberta-onnx"


def test_tier_names_still_load_the_tier_without_such_a_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "none").mkdir()  # a directory without a manifest is not a bundle: no clash
    for load in _loaders():
        assert load("none").info.tier == "none"
        assert load("heuristic").info.tier == "heuristic"


def test_a_path_that_holds_no_bundle_says_a_path_is_never_a_name(tmp_path: Path, monkeypatch,
                                                                  data_home: Path, fake_roberta: None) -> None:
    make_bundle(data_home / "bundles" / "prod")
    monkeypatch.chdir(tmp_path)
    for load in _loaders():
        for name in ("heuristic", "prod"):
            with pytest.raises(UnknownModelError, match=rf"no bundle at {name}: it does not exist\. A "
                                                        r"pathlib\.Path .* is always read as a bundle directory "
                                                        r"path; pass a str"):
                load(Path(name))
        assert load("prod").info.bundle_path.endswith("prod")  # by name, as a str
