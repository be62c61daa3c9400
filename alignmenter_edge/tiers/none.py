"""The ``none`` tier: no classification, every text scores 1.0. Only by explicit request."""

from __future__ import annotations

from typing import Sequence

from ..classifier import Classifier


class NoClassifier(Classifier):
    """Disables offline classification (alignmenter's ``"none"``); never chosen by ``auto``."""

    tier = "none"
    model_id = "none"
    default_batch_size = 1024

    def _score(self, texts: list[str]) -> Sequence[float]:
        return [1.0] * len(texts)
