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


# --- names that are no name ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_an_empty_name_is_refused_up_front(tmp_path: Path, monkeypatch, name: str) -> None:
    """'' said "unknown model ''.  exists but holds no manifest.json" and loaded a manifest.json in
    the working directory as a bundle."""
    monkeypatch.chdir(tmp_path)
    make_bundle(tmp_path / "here")
    (tmp_path / "manifest.json").write_bytes((tmp_path / "here" / "manifest.json").read_bytes())
    with pytest.raises(UnknownModelError, match=r"^the model name is empty( or whitespace only)?; give a tier name "
                                                r"\(constitutional-gguf, .*auto\), an installed bundle's name or a "
                                                r"bundle directory path\.$") as failure:
        load_classifier(name)
    assert "exists but" not in str(failure.value)


def test_the_drop_in_reads_an_empty_identifier_as_auto_as_alignmenter_does() -> None:
    from alignmenter_edge.alignmenter import load_safety_classifier

    assert load_safety_classifier("").info.requested == "auto"
    assert load_safety_classifier("  ").info.requested == "auto"


@pytest.mark.parametrize("name", [b"heuristic", 0, None, ["heuristic"]])
def test_a_name_that_is_not_a_str_or_path_is_a_type_error(name: object) -> None:
    """bytes reached str.casefold: AttributeError: 'bytes' object has no attribute 'casefold'."""
    for load in _loaders():
        if name is None and load is not load_classifier:
            continue  # the drop-in's None is alignmenter's "auto"
        with pytest.raises(TypeError, match=rf"the model must be a str \(a tier or installed bundle name\) "
                                            rf"or an os\.PathLike \(a bundle directory\), got {type(name).__name__}"):
            load(name)
