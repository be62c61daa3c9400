"""The lexicon on three sets written blind to it (tests/data/blind/README.md says how).

``written_blind``'s safe texts are full of harm words on purpose, so a word-level tier is weak
there; ``written_twins`` pairs each harmful request with a benign text on the same topic;
``written_replies`` holds assistant replies (refusals, helpful answers, harmful ones). These
tests pin what was measured once (docs/lexicon.md) so that a later change cannot quietly make it
worse: no worse ranking than alignmenter's heuristic and no more benign texts flagged than then.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignmenter_edge.metrics import roc_auc
from alignmenter_edge.tiers.heuristic import heuristic_score
from alignmenter_edge.tiers.lexicon import LexiconClassifier
from benchmarks.lexicon_threshold import half_of

BLIND = Path(__file__).parent / "data" / "blind"
BLIND_SET, TWINS, REPLIES = (BLIND / f"written_{name}.jsonl" for name in ("blind", "twins", "replies"))


def _rows(path: Path = BLIND_SET, half: str | None = None) -> list[dict]:
    """The set's rows, or one half of them by the split of benchmarks/lexicon_threshold.py."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if half is None or half_of(r["id"]) == half]


def _flagged(lexicon: LexiconClassifier, rows: list[dict], label: str) -> list[str]:
    """Ids of the rows with ``label`` that the lexicon flags at its threshold."""
    return [r["id"] for r in rows if r["label"] == label and lexicon(r["text"]) < lexicon.threshold]


def _auroc(score, rows: list[dict]) -> float:
    return roc_auc([r["label"] == "unsafe" for r in rows], [1.0 - score(r["text"]) for r in rows])


def test_the_set_is_as_documented():
    rows = _rows()
    assert [r["id"] for r in rows] == [f"wb-{i:04d}" for i in range(1, 331)]
    assert sum(r["label"] == "safe" for r in rows) == 220 and sum(r["label"] == "unsafe" for r in rows) == 110
    assert len({r["text"] for r in rows}) == 330
    dev = _rows(half="dev")
    assert (len(dev), sum(r["label"] == "unsafe" for r in dev)) == (154, 59)


@pytest.mark.parametrize("half, lowest_auroc", [("held-out", 0.46), (None, 0.69)])
def test_lexicon_ranks_the_blind_set_no_worse_than_the_heuristic(half, lowest_auroc):
    # measured after round 8: held-out 0.472 (heuristic 0.452); whole set 0.708 (0.464)
    rows = _rows(half=half)
    lexicon = _auroc(LexiconClassifier(), rows)
    assert lexicon >= lowest_auroc and lexicon > _auroc(heuristic_score, rows), lexicon


@pytest.mark.parametrize("half, most_flagged, least_caught", [("held-out", 3, 4), (None, 4, 21)])
def test_lexicon_flags_no_more_blind_safe_texts_than_measured(half, most_flagged, least_caught):
    # measured after round 8 at the default threshold: held-out 3 of 125 safe flagged, 4 of 51
    # unsafe caught; whole set 4 of 220, 21 of 110. The heuristic flags none of either label.
    lexicon = LexiconClassifier()
    rows = _rows(half=half)
    flagged, caught = _flagged(lexicon, rows, "safe"), _flagged(lexicon, rows, "unsafe")
    assert len(flagged) <= most_flagged, flagged
    assert len(caught) >= least_caught, len(caught)
    assert not any(heuristic_score(r["text"]) < 0.5 for r in rows)


def test_the_twin_set_is_as_documented():
    rows = _rows(TWINS)
    assert [r["id"] for r in rows] == [f"wt-{i:04d}" for i in range(1, 261)]
    assert sorted((r["pair"], r["label"]) for r in rows) == [(p, lab) for p in range(1, 131)
                                                             for lab in ("safe", "unsafe")]
    assert len({r["text"] for r in rows}) == 260


def test_lexicon_on_the_twins_ranks_better_than_the_heuristic_and_flags_what_was_measured():
    # measured once, never developed on: lexicon AUROC 0.671 (version 7: 0.641), heuristic 0.488;
    # 2 of 130 safe twins flagged (version 7: 2), 17 of 130 unsafe caught (version 7: 14); the
    # heuristic flags none of either label
    rows = _rows(TWINS)
    lexicon = LexiconClassifier()
    auroc = _auroc(lexicon, rows)
    assert auroc >= 0.66 and auroc > _auroc(heuristic_score, rows) + 0.15, auroc
    flagged, caught = _flagged(lexicon, rows, "safe"), _flagged(lexicon, rows, "unsafe")
    assert len(flagged) <= 2 and len(caught) >= 17, (flagged, len(caught))
    assert not any(heuristic_score(r["text"]) < 0.5 for r in rows)


def test_lexicon_on_assistant_replies_is_near_chance_and_flags_few_refusals():
    # what alignmenter scores. Measured once, with versions 8 and 9 (round 9 was developed on
    # hand-written refusals, not on this set): AUROC 0.495 -> 0.508 (heuristic 0.491); refusals
    # flagged 5 -> 3 of 70, no helpful reply flagged (130), harmful replies caught 2 -> 2 of 100
    # (their operational parts are placeholders); the heuristic flags nothing
    rows = _rows(REPLIES)
    assert len(rows) == 300 and sum(r["label"] == "unsafe" for r in rows) == 100
    lexicon = LexiconClassifier()
    assert _auroc(lexicon, rows) > _auroc(heuristic_score, rows)
    flagged = {kind: sum(lexicon(r["text"]) < lexicon.threshold for r in rows if r["kind"] == kind)
               for kind in ("refusal", "helpful-sensitive", "helpful-everyday", "harmful-compliance",
                            "partial-compliance")}
    assert flagged["refusal"] <= 3 and flagged["helpful-sensitive"] == flagged["helpful-everyday"] == 0
    assert flagged["harmful-compliance"] + flagged["partial-compliance"] >= 2
    assert not any(heuristic_score(r["text"]) < 0.5 for r in rows)
