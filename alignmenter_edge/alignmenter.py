"""Drop-in for alignmenter 0.3.5: a faster ``load_safety_classifier`` and a batched custom scorer.

Two ways in, both offline:

* ``load_safety_classifier(identifier)`` has alignmenter's signature and return type
  (``Callable[[str], float]``, 1.0 = safe) and accepts our tier names, installed bundle names and
  bundle paths. Use it as ``SafetyScorer(classifier=load_safety_classifier("roberta-onnx"))``.
  Unlike alignmenter's loader it never falls back silently (an unknown name or a missing bundle
  raises) and it caches scores, so alignmenter's repeated calls per turn reach the model once.
* ``EdgeSafetyScorer`` for ``alignmenter run --custom-scorer alignmenter_edge.alignmenter:EdgeSafetyScorer``:
  scores every assistant turn of all sessions in length-sorted batches, once; the per-scenario and
  per-persona breakdowns alignmenter runs afterwards are served from the cache. Configured by
  ``ALIGNMENTER_EDGE_MODEL``, ``ALIGNMENTER_EDGE_THREADS``, ``ALIGNMENTER_EDGE_BATCH_SIZE`` or a
  YAML/JSON file named by ``ALIGNMENTER_EDGE_CONFIG``.

This module does not import alignmenter: it only has to be importable by it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from .classifier import Classifier, is_flagged, require_texts
from .errors import AlignmenterEdgeError, InvalidInputError
from .registry import check_model_name, load_classifier, refuse_directory_named_like_a_tier
from .thresholds import THRESHOLD_RULE, parse_threshold
from .values import is_integer

__all__ = ["EdgeSafetyScorer", "EdgeScorerConfigError", "SafetyClassifierFn",
           "load_safety_classifier", "scorer_settings"]

MODEL_ENV = "ALIGNMENTER_EDGE_MODEL"
THREADS_ENV = "ALIGNMENTER_EDGE_THREADS"
BATCH_SIZE_ENV = "ALIGNMENTER_EDGE_BATCH_SIZE"
CONFIG_ENV = "ALIGNMENTER_EDGE_CONFIG"
SCORER_ID_ENV = "ALIGNMENTER_EDGE_SCORER_ID"
THRESHOLD_ENV = "ALIGNMENTER_EDGE_THRESHOLD"
DEFAULT_CACHE_SIZE = 100_000  # cache slots (16-byte digest + score, ~140 bytes each when full)
CACHE_WAYS = 8  # slots per set: a text can only be evicted by another of its own set
MAX_CACHE_SIZE = 10**8  # its slot tables alone take ~1.6 GB; more is a typo, not a cache
DEFAULT_SCORER_ID = "edge_safety"
# alignmenter 0.3.5's built-in scorers other than SafetyScorer (alignmenter/scorers/*.py). alignmenter
# keeps results by scorer id, so ours under one of these would replace that scorer's result and
# its threshold gate would read ours. "safety" is allowed: replacing it is documented.
OTHER_BUILTIN_SCORER_IDS = frozenset({"authenticity", "faithfulness", "grounding", "stability"})
# alignmenter's names for its transformers model; here they mean our int8 ONNX RoBERTa bundle.
ROBERTA_ALIASES = frozenset({"distilled-safety-roberta", "protectai/distilled-safety-roberta"})
_CONFIG_KEYS = ("model", "threads", "batch_size", "cache_size", "id", "threshold")


class EdgeScorerConfigError(AlignmenterEdgeError, ValueError):
    """Bad scorer configuration or a model that cannot load (a ValueError, so ``alignmenter run``
    reports it as a bad parameter instead of a traceback)."""


class SafetyClassifierFn:
    """alignmenter's ``ClassifierFn`` (text → float, 1.0 = safe) over one of our classifiers.

    Scores are cached by text digest in fixed tables of ``cache_size`` slots (rounded down to
    whole sets of 8; the least recently used of a set makes room), so memory stays flat on endless streams and, while
    a run's distinct texts stay well below ``cache_size``, each reaches the model once (20,000
    distinct texts in the default 100,000 slots: none twice). ``calls`` counts calls made by the caller,
    ``model_texts``/``model_batches`` what reached the model. Errors are never turned into scores: invalid input and non-finite model
    output raise (alignmenter's own loader returns 1.0 on any exception).
    """

    def __init__(self, classifier: Classifier, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if not is_integer(cache_size) or not 0 <= cache_size <= MAX_CACHE_SIZE:
            raise EdgeScorerConfigError(
                f"cache_size must be an integer >= 0 and <= {MAX_CACHE_SIZE}, got {cache_size!r} "
                f"({MAX_CACHE_SIZE:,} slots already take ~1.6 GB of tables; the default is {DEFAULT_CACHE_SIZE:,}).")
        self.classifier = classifier
        self.cache_size = cache_size
        self._ways = min(CACHE_WAYS, cache_size) or 1
        self._sets = cache_size // self._ways
        self._keys: list[bytes | None] = [None] * (self._sets * self._ways)
        self._values: list[float] = [0.0] * (self._sets * self._ways)
        self.calls = 0
        self.cache_hits = 0
        self.model_texts = 0
        self.model_batches = 0

    def __call__(self, text: str) -> float:
        self.calls += 1
        return self._scores(require_texts([text]), single=True)[0]

    def score_batch(self, texts: Iterable[str]) -> list[float]:
        """Score many texts; only texts not in the cache reach the model, in one batch."""
        items = require_texts(texts)
        self.calls += len(items)
        return self._scores(items)

    def _scores(self, items: list[str], *, single: bool = False) -> list[float]:
        """Scores of ``items``, already checked to be strings (a digest of a non-str fails obscurely);
        InvalidInputError for a text holding a lone surrogate, before any is scored."""
        keys = []
        for position, text in enumerate(items):
            try:
                keys.append(_digest(text))
            except UnicodeEncodeError as exc:
                raise InvalidInputError(
                    f"{'text' if single else f'text #{position}'} {_lone_surrogate(exc)}; fix the "
                    "input (in JSON, a \\ud800-\\udfff escape without its pair).") from None
        found: dict[bytes, float] = {}
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, items):
            if key in found or key in missing:
                continue
            score = self._lookup(key)
            if score is None:
                missing[key] = text
            else:
                found[key] = score
        self.cache_hits += len(items) - len(missing)
        if missing:
            scores = self.classifier.score_batch(list(missing.values()))
            self.model_batches += 1
            self.model_texts += len(missing)
            for key, score in zip(missing, scores):
                found[key] = score
                self._remember(key, score)
        return [found[key] for key in keys]

    def _set_start(self, key: bytes) -> int | None:
        if not self._sets:
            return None
        return (int.from_bytes(key[:8], "little") % self._sets) * self._ways

    def _lookup(self, key: bytes) -> float | None:
        """The cached score of ``key``, moved to the front of its set (most recently used)."""
        start = self._set_start(key)
        if start is None:
            return None
        keys = self._keys
        for slot in range(start, start + self._ways):
            if keys[slot] == key:
                score = self._values[slot]
                self._to_front(start, slot, key, score)
                return score
            if keys[slot] is None:
                return None
        return None

    def _remember(self, key: bytes, score: float) -> None:
        """Put ``key`` at the front of its set; the set's last (least recently used) falls out."""
        start = self._set_start(key)
        if start is not None:
            self._to_front(start, start + self._ways - 1, key, score)

    def _to_front(self, start: int, slot: int, key: bytes, score: float) -> None:
        """Shift the set's entries ``start..slot - 1`` one place back (over ``slot``) and put
        ``key`` first: a hit moves up, a new key pushes the set's last entry out."""
        keys, values = self._keys, self._values
        keys[start + 1:slot + 1], values[start + 1:slot + 1] = keys[start:slot], values[start:slot]
        keys[start], values[start] = key, score

    @property
    def cached(self) -> int:
        """Scores held in the cache now."""
        return len(self._keys) - self._keys.count(None)

    @property
    def stats(self) -> dict[str, int]:
        return {"calls": self.calls, "cache_hits": self.cache_hits,
                "model_texts": self.model_texts, "model_batches": self.model_batches}

    @property
    def info(self) -> Any:
        return self.classifier.info

    def close(self) -> None:
        self.classifier.close()
        self._keys = [None] * len(self._keys)

    def __enter__(self) -> "SafetyClassifierFn":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SafetyClassifierFn {self.classifier!r} {self.stats}>"


def load_safety_classifier(identifier: str | os.PathLike[str] | None, *, threads: int | None = None,
                           batch_size: int | None = None,
                           cache_size: int = DEFAULT_CACHE_SIZE) -> SafetyClassifierFn:
    """alignmenter's ``load_safety_classifier(identifier)``, backed by alignmenter-edge tiers.

    ``identifier``: ``None``/``"auto"`` (strongest installed tier), a tier name (``heuristic``,
    ``lexicon``, ``roberta-onnx``, ``constitutional-gguf``, ``none``), alignmenter's
    ``distilled-safety-roberta`` (= our ``roberta-onnx`` bundle), an installed bundle name, or a
    bundle directory. Tier names are case-insensitive, as in alignmenter. Anything else raises
    :class:`~alignmenter_edge.errors.UnknownModelError` (alignmenter silently uses its heuristic).
    """
    if isinstance(identifier, os.PathLike):  # a path, as for load_classifier: never a tier name
        classifier = load_classifier(identifier, threads=threads, batch_size=batch_size)
        return SafetyClassifierFn(classifier, cache_size=cache_size)
    if identifier is not None and not isinstance(identifier, str):
        check_model_name(identifier)  # TypeError (alignmenter took bytes or 0 for its heuristic)
    spec = "auto" if identifier is None else identifier.strip() or "auto"  # as alignmenter reads them
    key = spec.lower()
    if key in ROBERTA_ALIASES or key in _tier_names():
        refuse_directory_named_like_a_tier(spec, "roberta-onnx" if key in ROBERTA_ALIASES else None)
    if key in ROBERTA_ALIASES:
        spec = "roberta-onnx"
    elif key in _tier_names():
        spec = key
    classifier = load_classifier(spec, threads=threads, batch_size=batch_size)
    return SafetyClassifierFn(classifier, cache_size=cache_size)


def _tier_names() -> set[str]:
    from .registry import TIERS

    return set(TIERS) | {"auto"}


def scorer_settings(overrides: Mapping[str, Any] | None = None,
                    environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The scorer's settings: constructor arguments > environment > config file > defaults."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {"model": "auto", "threads": None, "batch_size": None,
                                "cache_size": DEFAULT_CACHE_SIZE, "id": DEFAULT_SCORER_ID,
                                "threshold": None}
    if environ.get(CONFIG_ENV):
        settings.update(_read_config(Path(environ[CONFIG_ENV]).expanduser()))
    for name, env in (("model", MODEL_ENV), ("threads", THREADS_ENV),
                      ("batch_size", BATCH_SIZE_ENV), ("id", SCORER_ID_ENV),
                      ("threshold", THRESHOLD_ENV)):
        if environ.get(env, "").strip():
            settings[name] = environ[env].strip()
    settings.update({k: v for k, v in (overrides or {}).items() if v is not None})
    for name, env in (("threads", THREADS_ENV), ("batch_size", BATCH_SIZE_ENV),
                      ("cache_size", CONFIG_ENV)):
        settings[name] = _int_setting(name, settings[name], env, minimum=0 if name == "cache_size" else 1,
                                      maximum=MAX_CACHE_SIZE if name == "cache_size" else None)
    settings["threshold"] = _threshold_setting(settings["threshold"])
    model_is_path = isinstance(settings["model"], os.PathLike)  # a constructor Path: kept as given
    if model_is_path:
        settings["model"] = os.fspath(settings["model"])
    for name in ("model", "id"):
        if not isinstance(settings[name], str) or not settings[name].strip():
            raise EdgeScorerConfigError(
                f"scorer {name} must be a non-empty string, got {settings[name]!r} (set it with "
                f"{MODEL_ENV if name == 'model' else SCORER_ID_ENV} or the scorer config).")
        if not (name == "model" and model_is_path):
            settings[name] = settings[name].strip()
    if not model_is_path and settings["model"].casefold() == "none" and settings["model"] != "none":
        raise EdgeScorerConfigError(
            f"scorer model {settings['model']!r} would disable classification (every text scores 1.0); "
            "write none, in lower case, if that is meant (YAML reads None as this string, not as "
            f"null), or ./{settings['model']} for a bundle directory of that name (set it with "
            f"{MODEL_ENV} or the scorer config).")
    if settings["id"] in OTHER_BUILTIN_SCORER_IDS:
        raise EdgeScorerConfigError(
            f"scorer id {settings['id']!r} is the id of alignmenter's built-in {settings['id']} scorer: "
            "alignmenter would keep this scorer's result in its place, so that scorer's result and "
            f"its threshold gate would be lost. Use {DEFAULT_SCORER_ID} (the default), safety (to "
            "replace the built-in safety entry) or an id of your own (set it with "
            f"{SCORER_ID_ENV} or the scorer config).")
    return settings


def _read_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EdgeScorerConfigError(
            f"{CONFIG_ENV}={path}: cannot read the config file ({exc.strerror}).") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        raise EdgeScorerConfigError(f"{CONFIG_ENV}={path}: not valid YAML/JSON ({exc}).") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EdgeScorerConfigError(f"{CONFIG_ENV}={path}: expected a mapping of settings.")
    unknown = sorted(set(data) - set(_CONFIG_KEYS))
    if unknown:
        raise EdgeScorerConfigError(
            f"{CONFIG_ENV}={path}: unknown setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(_CONFIG_KEYS)}.")
    return {k: (os.fspath(v) if k == "model" and isinstance(v, Path) else v) for k, v in data.items()}


def _int_setting(name: str, value: Any, env: str, *, minimum: int, maximum: int | None = None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
        if isinstance(value, bool) or isinstance(value, float) or number < minimum \
                or (maximum is not None and number > maximum):
            raise ValueError
    except (TypeError, ValueError):
        limit = "" if maximum is None else f" and <= {maximum}"
        raise EdgeScorerConfigError(
            f"{name} must be an integer >= {minimum}{limit}, got {value!r} (set it with {env} or the "
            "scorer config).") from None
    return number


def _threshold_setting(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return parse_threshold(value)
    except ValueError:
        raise EdgeScorerConfigError(
            f"threshold must be {THRESHOLD_RULE}, got {value!r} (set it with {THRESHOLD_ENV} or the "
            "scorer config).") from None


# Loaded classifiers shared by scorer instances of one process (alignmenter builds one scorer
# per stream; a compare run must not load the model twice).
_SHARED: dict[tuple[Any, ...], SafetyClassifierFn] = {}


class EdgeSafetyScorer:
    """An alignmenter custom scorer: every assistant turn scored in batches, once per text.

    ``alignmenter run --custom-scorer alignmenter_edge.alignmenter:EdgeSafetyScorer`` constructs
    it without arguments; it then reads ``ALIGNMENTER_EDGE_MODEL`` (default ``auto``),
    ``ALIGNMENTER_EDGE_THREADS``, ``ALIGNMENTER_EDGE_BATCH_SIZE``, ``ALIGNMENTER_EDGE_THRESHOLD``
    (flag below it instead of below the model's own threshold) and ``ALIGNMENTER_EDGE_CONFIG``.
    The model loads in the constructor, so a bad setting stops the run before any scoring.

    ``score(sessions)`` returns ``score`` (mean safety score of the assistant turns, 1.0 = safe,
    alignmenter's ``fused_judge`` convention), ``min``, ``flagged``/``flag_rate`` (turns below the
    ``threshold`` setting, else below the model's own), the lowest turns, what ran (tier, model,
    bundle digest) and how much reached the model. Empty assistant turns are skipped and counted, as alignmenter's
    SafetyScorer skips them; a non-string text raises naming the session and turn.
    """

    def __init__(self, model: str | os.PathLike[str] | None = None, *, threads: int | None = None,
                 batch_size: int | None = None, cache_size: int | None = None,
                 id: str | None = None,  # noqa: A002 - alignmenter's attribute name
                 threshold: float | None = None) -> None:
        settings = scorer_settings({"model": model,
                                    "threads": threads, "batch_size": batch_size,
                                    "cache_size": cache_size, "id": id, "threshold": threshold})
        self.id = settings["id"]
        self.settings = settings
        as_path = isinstance(model, os.PathLike)  # a Path is a directory path, as for load_classifier
        key = (settings["model"], as_path, settings["threads"], settings["batch_size"], settings["cache_size"])
        fn = _SHARED.get(key)
        if fn is None or fn.classifier._closed:
            try:
                fn = load_safety_classifier(Path(settings["model"]) if as_path else settings["model"],
                                            threads=settings["threads"],
                                            batch_size=settings["batch_size"],
                                            cache_size=settings["cache_size"])
            except AlignmenterEdgeError as exc:
                raise EdgeScorerConfigError(
                    f"alignmenter-edge scorer: cannot load model {settings['model']!r} "
                    f"(set {MODEL_ENV}): {exc}") from exc
            _SHARED[key] = fn
            for note in fn.info.notes:  # alignmenter shows the scorer's result, not why this tier
                print(f"alignmenter-edge: {note}", file=sys.stderr)
        self.classifier = fn

    def score(self, sessions: Iterable[Any]) -> dict[str, Any]:
        started = time.perf_counter()
        before = self.classifier.stats
        turns: list[tuple[str, Any, str]] = []
        empty = 0
        for session_id, turn in _assistant_turns(sessions):
            text = turn.get("text", "")
            if text is None or text == "":
                empty += 1
                continue
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"session {session_id!r}, turn {turn.get('turn_index')!r}: 'text' is "
                    f"{type(text).__name__}, expected a string. Fix the dataset row.")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidInputError(
                    f"session {session_id!r}, turn {turn.get('turn_index')!r}: "
                    f"text {_lone_surrogate(exc)}. Fix the dataset row (in JSON, a \\ud800-\\udfff escape "
                    "without its pair).") from None
            turns.append((session_id, turn.get("turn_index"), text))
        scores = self._score_texts([text for _, _, text in turns])
        info = self.classifier.info
        after = self.classifier.stats
        threshold = info.threshold if self.settings["threshold"] is None else self.settings["threshold"]
        flagged = sum(is_flagged(score, threshold) for score in scores)
        lowest = sorted(zip(scores, range(len(turns))))[:5]
        return {
            "score": _round(sum(scores) / len(scores)) if scores else None,
            "turns": len(turns),
            "empty_turns": empty,
            "min": _round(min(scores)) if scores else None,
            "flagged": flagged,
            "flag_rate": _round(flagged / len(scores)) if scores else None,  # nothing scored: no rate
            "threshold": threshold,
            "model_threshold": info.threshold,
            "tier": info.tier,
            "model": info.model_id,
            "bundle_digest": info.bundle_digest,
            "notes": list(info.notes),  # e.g. an installed bundle auto passed over, and why
            "lowest": [{"session_id": turns[i][0], "turn_index": turns[i][1], "score": _round(s)}
                       for s, i in lowest if is_flagged(s, threshold)],
            "classifier_batches": after["model_batches"] - before["model_batches"],
            "classifier_texts": after["model_texts"] - before["model_texts"],
            "cache_hits": after["cache_hits"] - before["cache_hits"],
            "seconds": round(time.perf_counter() - started, 4),
        }

    def _score_texts(self, texts: list[str]) -> list[float]:
        # One score_batch call per chunk keeps memory bounded on very large datasets; the tier
        # sorts each chunk by length into batches of its batch_size.
        chunk = max(1, self.classifier.classifier.batch_size) * 64
        scores: list[float] = []
        for start in range(0, len(texts), chunk):
            scores.extend(self.classifier.score_batch(texts[start:start + chunk]))
        return scores

    def close(self) -> None:
        """Release the model (shared with other scorers of the same settings)."""
        self.classifier.close()


def _assistant_turns(sessions: Iterable[Any]) -> Iterable[tuple[str, dict]]:
    """(session_id, turn) for assistant turns, accepting alignmenter Sessions or plain dicts."""
    for session in sessions:
        turns = getattr(session, "turns", None)
        session_id = getattr(session, "session_id", None)
        if turns is None and hasattr(session, "get"):
            turns = session.get("turns", [])
            session_id = session.get("session_id")
        for turn in turns or []:
            role = turn.get("role")
            if isinstance(role, str) and role.strip().lower() == "assistant":  # as alignmenter's Runner reads it
                yield session_id, turn


def _digest(text: str) -> bytes:
    """UnicodeEncodeError for a text holding a lone surrogate (no model can tokenize it)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _lone_surrogate(exc: UnicodeEncodeError) -> str:
    return (f"holds a lone surrogate (invalid Unicode: U+{ord(exc.object[exc.start]):04X} at "
            f"character {exc.start}), which no tokenizer can encode")


def _round(value: float) -> float:
    return round(value, 4) if math.isfinite(value) else value
