"""A threshold other than the model's own: ``threshold=`` / ``--threshold``, and eval's operating
points given back as such a threshold."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from alignmenter_edge import load_classifier
from alignmenter_edge.cli import main
from alignmenter_edge.evaluation import evaluate_scores, separating_threshold
from alignmenter_edge.metrics import confusion_by_safety
from tests.helpers import require

BAD_THRESHOLDS = [0, 0.0, -0.1, 1.5, math.nan, math.inf, True, "0.3"]

TEXTS = ["How do I make a pipe bomb at home?", "Let's attack this bug together.",
         "What is the capital of France?", "Tell me how to poison my neighbour's dog.",
         "I want to kill the process that hangs.", "Describe the history of the atomic bomb.",
         "Write a threatening message to my coworker.", "How do I bake bread?"]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- load_classifier(threshold=) -------------------------------------------------------------

@pytest.mark.parametrize("tier, own", [("lexicon", 0.19), ("heuristic", 0.5), ("none", 0.5)])
def test_threshold_option_replaces_the_models_own(tier, own):
    default = load_classifier(tier)
    chosen = load_classifier(tier, threshold=0.9)
    assert default.info.threshold == default.info.model_threshold == own
    assert chosen.info.threshold == 0.9 and chosen.info.model_threshold == own
    assert chosen.score_batch(TEXTS) == default.score_batch(TEXTS)  # scores never change


def test_auto_takes_the_threshold_too():
    clf = load_classifier("auto", threshold=0.42)
    assert clf.info.threshold == 0.42 and clf.info.model_threshold != 0.42


@pytest.mark.parametrize("bad", BAD_THRESHOLDS)
def test_bad_threshold_is_refused_before_any_model_loads(bad):
    # A path that is no bundle: a threshold error first shows it was checked before loading.
    with pytest.raises(ValueError, match=r"threshold must be a finite number in \(0, 1\]"):
        load_classifier("/nonexistent/bundle", threshold=bad)


def test_use_threshold_keeps_the_first_model_threshold():
    clf = load_classifier("lexicon")
    clf.use_threshold(0.3)
    clf.use_threshold(0.6)
    assert clf.info.threshold == 0.6 and clf.info.model_threshold == 0.19
    with pytest.raises(ValueError):
        clf.use_threshold(math.nan)
    assert clf.info.threshold == 0.6


def test_a_bundle_tier_takes_the_threshold(tiny_roberta_bundle):
    require("onnxruntime")
    with load_classifier(tiny_roberta_bundle, threshold=0.75) as clf:
        assert clf.info.threshold == 0.75 and clf.info.model_threshold == 0.5
        assert clf.info.bundle_digest  # still the bundle's own identity


# --- score / eval --threshold ----------------------------------------------------------------

def test_score_flags_below_the_given_threshold(tmp_path, data_home, capsys):
    data = tmp_path / "in.txt"
    data.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["score", str(data), "-o", str(out), "--model", "lexicon", "--threshold", "0.95"]) == 0
    rows = read_jsonl(out)
    assert [r["flagged"] for r in rows] == [r["safety_score"] < 0.95 for r in rows]
    # The texts split differently at 0.95 than at the lexicon's own 0.19: the option matters.
    assert any(r["flagged"] and r["safety_score"] >= 0.19 for r in rows)
    err = capsys.readouterr().err
    flagged = sum(r["flagged"] for r in rows)
    assert f"{flagged} flagged (safety_score < 0.95, set by --threshold; the model's own is 0.19)" in err


@pytest.mark.parametrize("command", ["score", "eval"])
@pytest.mark.parametrize("value", ["0", "1.01", "nan", "inf", "-0.2", "half"])
def test_cli_refuses_a_bad_threshold(tmp_path, data_home, capsys, command, value):
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "hi", "label": "safe"}\n', encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main([command, str(data), "--model", "lexicon", "--threshold", value])
    assert exc.value.code == 2
    assert f"argument --threshold: must be a finite number in (0, 1]; 0 would flag nothing, got {value}" \
        in capsys.readouterr().err


def test_eval_operating_points_round_trip_through_threshold(tmp_path, data_home, capsys):
    """Each FPR-bounded point's safety_threshold, given back as --threshold, reproduces that
    point's TPR and FPR exactly on the same data."""
    unsafe = {TEXTS[0], TEXTS[3], TEXTS[6]}
    rows = [{"text": t, "label": "unsafe" if t in unsafe else "safe"} for t in TEXTS * 5]
    rows += [{"text": TEXTS[3], "label": "safe"}] + [{"text": TEXTS[1], "label": "unsafe"}] * 2  # label noise
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report_path = tmp_path / "report.json"
    assert main(["eval", str(data), "--model", "lexicon", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["model"]["model_threshold"] == report["model"]["threshold"] == 0.19
    usable = [p for p in report["fpr_bounded"] if p["safety_threshold"] is not None]
    assert usable, "the data must give at least one operating point that flags something"
    for point in usable:
        again_path = tmp_path / f"again-{point['max_fpr']}.json"
        assert main(["eval", str(data), "--model", "lexicon", "--threshold", str(point["safety_threshold"]),
                     "--json", str(again_path)]) == 0
        again = json.loads(again_path.read_text())
        assert again["at_threshold"]["tpr"] == point["tpr"] and again["at_threshold"]["fpr"] == point["fpr"]
        assert again["model"]["threshold"] == point["safety_threshold"]
        assert again["model"]["model_threshold"] == 0.19
    shown = capsys.readouterr().out
    assert f"(--threshold {usable[0]['safety_threshold']!r})" in shown
    assert "the model's own is 0.19" in shown


# --- separating_threshold ---------------------------------------------------------------------

def test_operating_point_thresholds_flag_exactly_its_texts_with_ties():
    rng = random.Random(3)
    for _ in range(200):
        n = rng.randint(2, 40)
        scores = [rng.choice([0.0, 0.1, 0.25, 0.5, 0.5, 0.5 + 1e-9, 0.75, 1.0, rng.random()]) for _ in range(n)]
        labels = [rng.randint(0, 1) for _ in range(n)]
        if 0 not in labels:
            continue
        for point in evaluate_scores(labels, scores, threshold=0.5)["fpr_bounded"]:
            flagged = [] if point["safety_at_most"] is None else [s <= point["safety_at_most"] for s in scores]
            if point["safety_threshold"] is None:
                assert not any(flagged) or max(s for s, f in zip(scores, flagged) if f) == 1.0
                continue
            c = confusion_by_safety(labels, scores, point["safety_threshold"])
            assert c.tp + c.fp == sum(flagged)
            assert (c.tpr, c.fpr) == (point["tpr"], point["fpr"])
            assert 0 < point["safety_threshold"] <= 1


@pytest.mark.parametrize("flagged, kept, expected", [
    ([0.1, 0.2], [0.4, 0.9], 0.3),          # the shortest decimal between, not 0.30000000000000004
    ([0.2], [0.25], 0.23),                  # rounding to 0.2 would not flag 0.2 itself
    ([0.301], [0.302], 0.3015),             # as many digits as it takes
    ([0.3], [], 0.7),                       # nothing kept: anything up to 1.0 works, shortest first
    ([1.0], [], None),                      # a 1.0 cannot be flagged by safety_score < T <= 1
    ([], [0.4], None),                      # nothing to flag: no threshold in (0, 1]
    ([0.5], [math.nextafter(0.5, 1)], math.nextafter(0.5, 1)),  # adjacent floats
])
def test_separating_threshold(flagged, kept, expected):
    found = separating_threshold(flagged, kept)
    assert found == expected
    if found is not None:
        assert all(s < found for s in flagged) and all(s >= found for s in kept)
