"""alignmenter_edge.windows: the window spans shared by the model tiers and the lexicon."""

from __future__ import annotations

import pytest

from alignmenter_edge.windows import check_window, token_windows, window_spans


def test_a_stride_of_zero_is_refused_not_read_as_the_default():
    with pytest.raises(ValueError, match="window stride 0 does not fit"):
        token_windows(list(range(10)), 4, 0)
    with pytest.raises(ValueError, match="window stride 0"):
        check_window(4, 0)


def test_no_stride_means_half_a_window():
    assert token_windows(list(range(6)), 4) == [[0, 1, 2, 3], [2, 3, 4, 5]]
    assert token_windows(list(range(6)), 4, None) == token_windows(list(range(6)), 4, 2)


def test_the_constitutional_scorer_refuses_a_stride_of_zero_too(tmp_path):
    pytest.importorskip("tokenizers")
    from alignmenter_edge.tiers.constitutional_gguf import ConstitutionalScorer

    # refused before any file is read: the stride is checked when the scorer is built
    with pytest.raises(ValueError, match="window stride 0 does not fit a window of 8 tokens"):
        ConstitutionalScorer(tmp_path / "model.gguf", tmp_path / "tokenizer.json", template="",
                             constitution="", label_ids=[1, 2], max_input_tokens=8, window_stride=0)


@pytest.mark.parametrize("count, size, stride", [(0, 4, 2), (4, 4, 2), (5, 4, 2), (10, 4, 3), (1037, 150, 75)])
def test_token_windows_are_the_window_spans(count, size, stride):
    ids = list(range(count))
    spans = window_spans(count, size, stride)
    assert token_windows(ids, size, stride) == [ids[begin:stop] for begin, stop in spans]
    assert spans[0][0] == 0 and spans[-1][1] == count
    assert all(b2 - b1 <= stride for (b1, _), (b2, _) in zip(spans, spans[1:]))


@pytest.mark.parametrize("fixture", ["tiny_roberta_bundle", "tiny_constitutional_bundle"])
def test_the_model_tiers_refuse_a_stride_of_zero(request, fixture):
    """``window_stride or default`` (RoBERTa) and ``not window_stride`` (constitutional: then the
    manifest's stride) read 0 as no stride at all."""
    from alignmenter_edge import load_classifier

    bundle = request.getfixturevalue(fixture)
    with pytest.raises(ValueError, match="window stride 0 does not fit a window of"):
        load_classifier(bundle, window_stride=0)


def test_the_constitutional_tier_refuses_max_input_tokens_of_zero(tiny_constitutional_bundle):
    from alignmenter_edge import load_classifier

    with pytest.raises(ValueError, match="max_input_tokens must be a positive integer, got 0"):
        load_classifier(tiny_constitutional_bundle, max_input_tokens=0)
