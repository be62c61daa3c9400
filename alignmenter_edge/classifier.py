"""The Classifier base: one API for every tier (callable, batched, closable, safe by contract)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Sequence

from .bundle import Bundle
from .errors import AlignmenterEdgeError, BundleError, InvalidInputError, ModelOutputError
from .thresholds import check_threshold
from .values import is_integer


@dataclass(frozen=True)
class ClassifierInfo:
    """What is scoring: tier, model, bundle identity and run settings."""

    tier: str
    model_id: str
    threshold: float
    batch_size: int
    threads: int | None = None
    model_threshold: float | None = None  # the model's own; differs from threshold when overridden
    bundle_path: str | None = None
    bundle_digest: str | None = None
    requested: str | None = None
    notes: tuple[str, ...] = ()  # how it was chosen, when worth telling (e.g. what auto passed over)
    details: dict[str, Any] = field(default_factory=dict)


def is_flagged(safety_score: float, threshold: float) -> bool:
    """The one flagging rule, for every tier and command: unsafe when ``safety_score < threshold``
    (a score equal to the threshold is not flagged)."""
    return safety_score < threshold


def require_texts(texts: Iterable[str]) -> list[str]:
    """The texts as a list; InvalidInputError naming the first item that is not a str.

    A single ``str`` (or ``bytes``) is refused rather than iterated: its characters, scored one
    by one, would each look safe.
    """
    if isinstance(texts, (str, bytes, bytearray)):
        raise InvalidInputError(
            f"score_batch takes a list of texts, got one {type(texts).__name__}. "
            "Call the classifier on a single text (clf(text)) or pass [text]."
        )
    items = list(texts)
    for position, text in enumerate(items):
        if not isinstance(text, str):
            raise InvalidInputError(
                f"text #{position} is {type(text).__name__}, expected str. "
                "Convert or drop non-text values before scoring."
            )
    return items


class Classifier(ABC):
    """Scores text for safety: 1.0 = safe, 0.0 = unsafe (alignmenter's convention).

    Subclasses implement :meth:`_score`. The base validates input (strings only) and output
    (finite, within [0, 1]): a model failure raises, it never becomes a "safe" score.
    """

    tier: ClassVar[str]
    model_id: str = ""
    threshold: float = 0.5
    default_batch_size: ClassVar[int] = 32
    pool_batches: ClassVar[int] = 8  # see pool_size

    def __init__(self, *, batch_size: int | None = None, threads: int | None = None) -> None:
        # bool is an int subclass: threads=True would silently be 1
        if batch_size is not None and (not is_integer(batch_size) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if threads is not None and (not is_integer(threads) or threads < 1):
            raise ValueError(f"threads must be a positive integer, got {threads!r}.")
        self.batch_size = batch_size or self.default_batch_size
        self.threads = threads
        self.requested: str | None = None
        self.notes: tuple[str, ...] = ()
        self._model_threshold: float | None = None  # set once a threshold overrides the model's
        self._closed = False

    def use_threshold(self, threshold: float) -> None:
        """Flag below ``threshold`` instead of the model's own threshold, which
        ``info.model_threshold`` keeps. ValueError unless it is finite and in (0, 1]."""
        value = check_threshold(threshold)
        if self._model_threshold is None:
            self._model_threshold = self.threshold
        self.threshold = value

    @property
    def pool_size(self) -> int:
        """Texts a caller with a long stream hands to one :meth:`score_batch` call (``score``,
        ``eval``): several batches, so a tier can sort them by length and run batches at once,
        while output still flushes every ``pool_size`` texts."""
        return self.batch_size * self.pool_batches

    def __call__(self, text: str) -> float:
        return self.score_batch([text])[0]

    def score_batch(self, texts: Iterable[str]) -> list[float]:
        """Score many texts at once; returns scores in input order."""
        self._require_open()
        items = require_texts(texts)
        if not items:
            return []
        scores = [float(s) for s in self._score(items)]
        if len(scores) != len(items):
            raise ModelOutputError(
                f"the {self.tier} classifier returned {len(scores)} scores for {len(items)} texts."
            )
        for position, score in enumerate(scores):
            if not math.isfinite(score) or not 0.0 <= score <= 1.0:
                raise ModelOutputError(
                    f"the {self.tier} classifier produced {score!r} for text #{position}; "
                    "refusing to report it as a score. The model file may be corrupt or the "
                    "input triggered a numeric fault."
                )
        return scores

    @abstractmethod
    def _score(self, texts: list[str]) -> Sequence[float]:
        """Return one safety score per text, in order."""

    @property
    def info(self) -> ClassifierInfo:
        return ClassifierInfo(
            tier=self.tier,
            model_id=self.model_id or self.tier,
            threshold=self.threshold,
            model_threshold=self.threshold if self._model_threshold is None else self._model_threshold,
            batch_size=self.batch_size,
            threads=self.threads,
            requested=self.requested,
            notes=self.notes,
            **self._bundle_info(),
            details=self._details(),
        )

    def _bundle_info(self) -> dict[str, Any]:
        return {}

    def _details(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        """Release native resources; further scoring raises. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._release()

    def _release(self) -> None:
        """Free tier-specific resources (sessions, model handles)."""

    def _require_open(self) -> None:
        """AlignmenterEdgeError once :meth:`close` has run: freed native handles are never used."""
        if self._closed:
            raise AlignmenterEdgeError(f"the {self.tier} classifier is closed; load a new one.")

    def __enter__(self) -> "Classifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} tier={self.tier!r} model={self.model_id or self.tier!r}>"


class BundleClassifier(Classifier):
    """A classifier whose model comes from a verified bundle on disk."""

    def __init__(self, bundle: Bundle, *, batch_size: int | None = None,
                 threads: int | None = None) -> None:
        if bundle.manifest.tier != self.tier:
            raise BundleError(f"{bundle.path} is a {bundle.manifest.tier} bundle, not {self.tier}.")
        super().__init__(batch_size=batch_size, threads=threads)
        self.bundle = bundle
        self.model_id = bundle.manifest.model_id
        self.threshold = bundle.manifest.threshold

    @classmethod
    def from_bundle(cls, bundle: Bundle, **options: Any) -> "BundleClassifier":
        """The classifier for a verified bundle; ``options`` are the constructor's keywords."""
        return cls(bundle, **options)

    def _bundle_info(self) -> dict[str, Any]:
        return {"bundle_path": str(self.bundle.path), "bundle_digest": self.bundle.digest}

