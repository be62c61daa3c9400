"""Parity records: label agreement is judged by the bundle's own flagging rule and threshold."""

from __future__ import annotations

import pytest

from alignmenter_edge.export.parity import compare_unsafe_probabilities


def test_label_agreement_uses_the_bundle_threshold_not_a_fixed_half() -> None:
    """P(unsafe) 0.6 vs 0.8: both flagged at threshold 0.5 (safety 0.4 and 0.2 < 0.5), but at a
    spec threshold of 0.3 only the second is (safety 0.2 < 0.3 <= 0.4): they disagree."""
    assert compare_unsafe_probabilities([0.6], [0.8])["label_agreement"] == 1.0
    at_spec = compare_unsafe_probabilities([0.6], [0.8], 0.3)
    assert at_spec["label_agreement"] == 0.0 and at_spec["threshold"] == 0.3
    assert at_spec["max_abs_diff_p_unsafe"] == pytest.approx(0.2)
