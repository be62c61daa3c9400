"""The Classifier base's option checks: threads, batch_size and threshold."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from alignmenter_edge.registry import load_classifier
from alignmenter_edge.thresholds import check_threshold, is_valid_threshold


@pytest.mark.parametrize("option", ["threads", "batch_size"])
@pytest.mark.parametrize("value", [True, False, 0, -1, 2.0, "2"])
def test_threads_and_batch_size_must_be_positive_integers_not_bools(option, value):
    """bool is an int subclass: threads=True and batch_size=True were accepted as 1."""
    with pytest.raises(ValueError, match=rf"{option} must be a positive integer, got {value!r}"):
        load_classifier("lexicon", **{option: value})


def test_threads_and_batch_size_integers_are_taken():
    clf = load_classifier("lexicon", threads=3, batch_size=5)
    assert (clf.info.threads, clf.info.batch_size) == (3, 5)


def test_a_numpy_float_threshold_is_a_threshold():
    """threshold=np.float32(0.5) was refused as if 0.5 were out of range."""
    np = pytest.importorskip("numpy")
    for value in (np.float32(0.5), np.float64(0.25), Fraction(1, 2), np.int64(1)):
        assert is_valid_threshold(value)
        assert check_threshold(value) == float(value) and type(check_threshold(value)) is float
    clf = load_classifier("lexicon", threshold=np.float32(0.5))
    assert clf.info.threshold == 0.5 and type(clf.info.threshold) is float


@pytest.mark.parametrize("value", [True, "0.5", None, complex(0.5, 0), [0.5]])
def test_a_threshold_that_is_not_a_number_names_its_type(value):
    with pytest.raises(ValueError, match=re.escape(f"got {value!r} (a {type(value).__name__}, not a real number).")):
        check_threshold(value)


@pytest.mark.parametrize("value", [float("nan"), 0, 1.5, -0.5, float("inf")])
def test_a_number_out_of_range_is_refused_for_its_range(value):
    with pytest.raises(ValueError, match=r"threshold must be a finite number in \(0, 1\]; 0 would flag "
                                         rf"nothing, got {value!r}\.$"):
        check_threshold(value)


def test_a_numpy_value_out_of_range_is_refused_for_its_range():
    np = pytest.importorskip("numpy")
    for value in (np.float32(0.0), np.float64(np.nan), np.float32(2.0), np.bool_(True)):
        with pytest.raises(ValueError, match="threshold must be a finite number in"):
            check_threshold(value)
