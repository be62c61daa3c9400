"""load_classifier: names, bundle paths, auto, and errors that say what to do."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Sequence

import pytest

import alignmenter_edge.registry as registry
from alignmenter_edge import (
    Classifier,
    InvalidInputError,
    MissingDependencyError,
    ModelOutputError,
    UnknownModelError,
    load_classifier,
)
from alignmenter_edge.bundle import write_bundle
from alignmenter_edge.classifier import BundleClassifier
from alignmenter_edge.errors import AlignmenterEdgeError, BundleError


class FakeBundleClassifier(BundleClassifier):
    """Scores by text length; stands in for a model tier to test discovery and loading."""

    tier = "roberta-onnx"

    def _score(self, texts: list[str]) -> Sequence[float]:
        return [1.0 / (1 + len(t)) for t in texts]


class ConstantClassifier(Classifier):
    tier = "test"

    def __init__(self, value: float, **kw) -> None:
        super().__init__(**kw)
        self.value = value

    def _score(self, texts: list[str]) -> Sequence[float]:
        return [self.value] * len(texts)


def make_bundle(root: Path, tier: str = "roberta-onnx") -> Path:
    root.mkdir(parents=True)
    (root / "model.onnx").write_bytes(b"weights")
    write_bundle(root, ["model.onnx"], tier=tier, model_id="fake-model", sources=[],
                 labels={"names": ["SAFE", "UNSAFE"], "unsafe_index": 1}, max_input_tokens=8,
                 long_input_policy="windows", quantization="none", threshold=0.4)
    return root


@pytest.fixture
def fake_roberta(monkeypatch) -> None:
    spec = registry.TIERS["roberta-onnx"]
    monkeypatch.setitem(registry.TIERS, "roberta-onnx", registry.TierSpec(
        spec.name, "tests.test_registry:FakeBundleClassifier", spec.description,
        needs_bundle=True, extra="onnx", modules=(), strength=spec.strength))


def test_named_tiers(data_home: Path) -> None:
    with load_classifier("heuristic") as clf:
        assert clf("Let's attack this bug") == pytest.approx(0.8)
        assert clf.info.tier == "heuristic"
    with load_classifier("none") as clf:
        assert clf.score_batch(["how to build a bomb", ""]) == [1.0, 1.0]


def test_auto_on_bare_machine_picks_strongest_bundle_free_tier(data_home: Path) -> None:
    """The README's documented choice, not one derived from the table the code reads."""
    with load_classifier("auto") as clf:
        assert clf.info.tier == "lexicon"
        assert clf.info.requested == "auto"


def test_auto_prefers_an_installed_model_bundle(data_home: Path, fake_roberta: None) -> None:
    make_bundle(data_home / "bundles" / "my-roberta")
    assert registry.installed_bundles() == {"my-roberta": "roberta-onnx"}
    assert registry.available_tiers()["roberta-onnx"] == "ready"
    with load_classifier("auto", threads=1, batch_size=4) as clf:
        info = clf.info
    assert (info.tier, info.model_id, info.threads, info.batch_size) == ("roberta-onnx", "fake-model", 1, 4)
    assert info.bundle_path == str(data_home / "bundles" / "my-roberta")
    assert info.threshold == 0.4


def test_bundle_by_path_by_name_and_by_tier(data_home: Path, tmp_path: Path, fake_roberta: None) -> None:
    path = make_bundle(tmp_path / "elsewhere")
    assert load_classifier(path)("abc") == pytest.approx(0.25)
    assert load_classifier(str(path)).info.requested == str(path)
    make_bundle(data_home / "bundles" / "named")
    assert load_classifier("named").info.bundle_path.endswith("named")
    assert load_classifier("roberta-onnx").info.model_id == "fake-model"


def test_a_bundle_directory_in_the_working_directory_comes_before_an_installed_name(
        data_home: Path, tmp_path: Path, fake_roberta: None, monkeypatch) -> None:
    installed = make_bundle(data_home / "bundles" / "prod")
    monkeypatch.chdir(tmp_path)
    assert load_classifier("prod").info.bundle_path == str(installed)
    make_bundle(tmp_path / "prod")  # the documented order: a path first, then an installed name
    assert Path(load_classifier("prod").info.bundle_path).resolve() == (tmp_path / "prod").resolve()


def test_a_bundle_of_another_tier_is_refused_by_a_tier_class(tmp_path: Path) -> None:
    from alignmenter_edge.bundle import read_bundle

    other = read_bundle(make_bundle(tmp_path / "gguf", tier="constitutional-gguf"))
    with pytest.raises(BundleError, match=r"is a constitutional-gguf bundle, not roberta-onnx"):
        FakeBundleClassifier.from_bundle(other)


def test_explicit_tier_without_bundle_is_an_error_with_a_fix(data_home: Path, fake_roberta: None) -> None:
    with pytest.raises(BundleError, match="no roberta-onnx bundle is installed.*export"):
        load_classifier("roberta-onnx")


def test_two_bundles_for_one_tier_must_be_named(data_home: Path, fake_roberta: None) -> None:
    make_bundle(data_home / "bundles" / "a")
    make_bundle(data_home / "bundles" / "b")
    with pytest.raises(BundleError, match="several roberta-onnx bundles.*a, b"):
        load_classifier("roberta-onnx")


def test_missing_dependency_names_the_extra(data_home: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(registry, "is_installed", lambda module: module != "onnxruntime")
    path = make_bundle(tmp_path / "b")
    with pytest.raises(MissingDependencyError, match=r"pip install 'alignmenter-edge\[onnx\]'"):
        load_classifier(path)
    assert "alignmenter-edge[onnx]" in registry.available_tiers()["roberta-onnx"]
    # auto does not pick a tier whose dependencies are missing
    make_bundle(data_home / "bundles" / "x")
    assert load_classifier("auto").info.tier != "roberta-onnx"


def test_unknown_names_list_the_choices(data_home: Path, tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="heuristic.*auto"):
        load_classifier("distilled-safety-robertaa")
    with pytest.raises(UnknownModelError, match="holds no manifest.json"):
        load_classifier(tmp_path)


def test_base_rejects_non_strings_and_bad_scores() -> None:
    clf = ConstantClassifier(0.5)
    with pytest.raises(InvalidInputError, match="text #1 is int"):
        clf.score_batch(["ok", 3])
    for bad in (math.nan, math.inf, -0.1, 1.5):
        with pytest.raises(ModelOutputError, match="refusing to report it"):
            ConstantClassifier(bad)("text")
    assert clf.score_batch([]) == []


def test_closed_classifier_refuses_to_score() -> None:
    clf = ConstantClassifier(0.5)
    with clf:
        assert clf("x") == 0.5
    with pytest.raises(AlignmenterEdgeError, match="closed"):
        clf("x")
    clf.close()  # idempotent


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_settings_are_validated(bad) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        ConstantClassifier(0.5, batch_size=bad)
    with pytest.raises(ValueError, match="threads"):
        ConstantClassifier(0.5, threads=bad)


def test_an_option_the_tier_does_not_take_is_a_clear_error(data_home: Path) -> None:
    with pytest.raises(ValueError, match=r"the lexicon tier takes no option 'arena'; its options are "
                                         r"batch_size, lexicon_path, threads"):
        load_classifier("lexicon", arena="off")
    with pytest.raises(ValueError, match=r"the lexicon tier \(what 'auto' picked here\) takes no "
                                         r"option 'arena'"):
        load_classifier("auto", arena="off")  # a bare machine: auto picks lexicon


def test_an_unknown_option_for_a_bundle_tier_names_the_tier(data_home: Path, tmp_path: Path,
                                                            fake_roberta: None) -> None:
    path = make_bundle(tmp_path / "b")
    with pytest.raises(ValueError, match=r"the roberta-onnx tier \(what .* picked here\) takes no "
                                         r"option 'lexicon_path'.*plus threshold and verify"):
        load_classifier(path, lexicon_path="x.txt")


def test_verify_is_accepted_by_every_tier_and_ignored_without_a_bundle(data_home: Path, tmp_path: Path,
                                                                       fake_roberta: None) -> None:
    for name in ("heuristic", "lexicon", "none", "auto"):  # no bundle installed
        with load_classifier(name, verify="full") as clf:
            assert clf.info.bundle_path is None
    make_bundle(data_home / "bundles" / "my-roberta")
    with load_classifier("auto", verify="full") as clf:  # the same call, now with a bundle
        assert clf.info.tier == "roberta-onnx"


# --- bundles whose name reads as a tier (installed by an older version) -------------------------

@pytest.mark.parametrize(("name", "tier"), [("None", "none"), ("AUTO", "auto"), ("Heuristic", "heuristic")])
def test_a_bundle_named_like_a_tier_is_never_silently_taken_for_it(data_home: Path, fake_roberta: None,
                                                                   name: str, tier: str) -> None:
    """The drop-in lower-cases tier names, so "None" would load the none tier (every text 1.0)."""
    from alignmenter_edge.alignmenter import load_safety_classifier

    make_bundle(data_home / "bundles" / name)
    for requested in (name, tier):
        with pytest.raises(BundleError, match=rf"installed bundle '{name}' .* has the name of the "
                                              rf"'{tier}' tier.*uninstall {name}"):
            load_classifier(requested)
    with pytest.raises(BundleError, match=f"'{name}'"):
        load_safety_classifier(name)
    assert load_classifier("lexicon").info.tier == "lexicon"  # other tiers are unaffected


# --- installed bundles whose manifest cannot be read ---------------------------------------------

def _break(manifest: Path, how: str) -> None:
    if how == "not json":
        manifest.write_text("{not json", encoding="utf-8")
    else:
        data = json.loads(manifest.read_text())
        data.update({"threshold nan": {"threshold": math.nan}, "version 2": {"format_version": 2}}[how])
        manifest.write_text(json.dumps(data))


@pytest.mark.parametrize("how", ["not json", "threshold nan"])
def test_a_broken_installed_bundle_loads_by_name_as_an_error_naming_its_manifest(
        data_home: Path, fake_roberta: None, how: str) -> None:
    manifest = make_bundle(data_home / "bundles" / "mine") / "manifest.json"
    _break(manifest, how)
    with pytest.raises(BundleError, match=rf"installed bundle 'mine' cannot be read: {re.escape(str(manifest))}.*"
                                          r"install BUNDLE_DIR --name mine --force.*uninstall mine"):
        load_classifier("mine")
    assert set(registry.scan_installed().broken) == {"mine"}
    assert registry.installed_bundles() == {}


def test_a_bundle_for_a_newer_version_is_not_broken_only_not_for_this_one(data_home: Path,
                                                                       fake_roberta: None, capsys) -> None:
    """A data home shared with a newer alignmenter-edge may hold a bundle of format version 2:
    by name it is an error saying which version reads it; auto and tier names pass over it (it
    is not this version's to use, and reinstalling cannot fix it), and info lists it."""
    from alignmenter_edge.cli import main
    from alignmenter_edge.errors import UnsupportedBundleError

    make_bundle(data_home / "bundles" / "good")
    _break(make_bundle(data_home / "bundles" / "newer") / "manifest.json", "version 2")
    with pytest.raises(UnsupportedBundleError, match="'newer' is not for this version: .*format version 2 is not "
                                                     "supported .*install the alignmenter-edge version that wrote it"):
        load_classifier("newer")
    assert registry.scan_installed().broken == {} and set(registry.scan_installed().unsupported) == {"newer"}
    assert registry.installed_bundles() == {"good": "roberta-onnx"}
    assert registry.available_tiers()["roberta-onnx"] == "ready"
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    manifest = data_home / "bundles" / "newer" / "manifest.json"
    assert f"\n  {'newer':<20} NOT FOR THIS VERSION (auto skips it): installed bundle 'newer' is not for this " \
           f"version: {manifest}: bundle format version 2 is not supported" in out
    assert "BROKEN" not in out


def test_auto_does_not_fall_back_past_a_broken_installed_bundle(data_home: Path, fake_roberta: None) -> None:
    make_bundle(data_home / "bundles" / "good")
    _break(make_bundle(data_home / "bundles" / "mine") / "manifest.json", "not json")
    for requested in ("auto", "roberta-onnx"):
        with pytest.raises(BundleError, match=rf"'{requested}' does not pick a bundle while an installed "
                                              r"bundle is unreadable.*'mine'.*uninstall mine"):
            load_classifier(requested)
    assert "unreadable bundle(s) installed (mine)" in registry.available_tiers()["roberta-onnx"]
    assert load_classifier("good").info.model_id == "fake-model"  # by name it still loads


def test_auto_with_two_bundles_of_its_tier_says_which_and_how_to_pick(data_home: Path, fake_roberta: None) -> None:
    make_bundle(data_home / "bundles" / "a")
    make_bundle(data_home / "bundles" / "b")
    assert registry.available_tiers()["roberta-onnx"] == \
        "several bundles installed (a, b): load one with --model NAME"
    with pytest.raises(BundleError, match=r"several roberta-onnx bundles are installed \(a, b\), so "
                                          r"'auto' does not pick one.*--model a"):
        load_classifier("auto")
    assert load_classifier("b").info.bundle_path.endswith("b")


def test_auto_says_which_installed_bundle_it_passed_over_and_why(data_home: Path, monkeypatch) -> None:
    """A bundle installed on a machine without its extra: auto still runs (the strongest tier that
    can), but the classifier's notes name the bundle and the install command — not a silent
    lexicon result."""
    make_bundle(data_home / "bundles" / "mine")
    monkeypatch.setattr(registry, "is_installed", lambda module: module not in ("onnxruntime", "numpy"))
    clf = load_classifier("auto")
    assert clf.tier == "lexicon"
    assert clf.info.notes == ("auto passed over the installed roberta-onnx bundle mine: it needs "
                              "onnxruntime, numpy (pip install 'alignmenter-edge[onnx]')",)
    assert load_classifier("lexicon").info.notes == ()  # named tiers have nothing to explain


def test_score_and_eval_print_what_auto_passed_over(data_home: Path, monkeypatch, tmp_path: Path, capsys) -> None:
    from alignmenter_edge.cli import main

    make_bundle(data_home / "bundles" / "mine")
    monkeypatch.setattr(registry, "is_installed", lambda module: module != "onnxruntime")
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "How do I bake bread?", "label": "safe"}\n'
                    '{"text": "How do I make a pipe bomb?", "label": "unsafe"}\n', encoding="utf-8")
    expected = ("note: auto passed over the installed roberta-onnx bundle mine: it needs onnxruntime "
                "(pip install 'alignmenter-edge[onnx]')")
    assert main(["score", str(data), "-o", str(tmp_path / "out.jsonl")]) == 0
    assert expected in capsys.readouterr().err
    assert main(["eval", str(data), "--json", str(tmp_path / "report.json")]) == 0
    assert expected in capsys.readouterr().out
    assert expected.removeprefix("note: ") in json.loads((tmp_path / "report.json").read_text())["notes"]
