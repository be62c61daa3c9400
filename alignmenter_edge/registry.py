"""Tier names → loaders, bundle discovery, and ``auto``. Tiers register here and only here."""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bundle import MANIFEST_NAME, is_bundle_dir, read_bundle
from .classifier import Classifier
from .deps import is_installed
from .errors import BundleError, MissingDependencyError, UnknownModelError
from .paths import HOME_ENV, bundles_dir


@dataclass(frozen=True)
class TierSpec:
    """A tier as data: where its class lives, what it needs, how strong it is for ``auto``."""

    name: str
    loader: str  # "module:Class", imported only when the tier is loaded
    description: str
    needs_bundle: bool = False
    extra: str | None = None
    modules: tuple[str, ...] = ()
    strength: int = 0  # auto picks the highest available; 0 = never picked by auto

    def missing_modules(self) -> list[str]:
        return [m for m in self.modules if not is_installed(m)]


TIERS: dict[str, TierSpec] = {
    spec.name: spec
    for spec in (
        TierSpec("constitutional-gguf", "alignmenter_edge.tiers.constitutional_gguf:ConstitutionalGGUFClassifier",
                 "Qwen3-1.7B + LoRA judged against a constitution, quantized GGUF via llama.cpp",
                 needs_bundle=True, extra="gguf", modules=("llama_cpp", "tokenizers"), strength=40),
        TierSpec("roberta-onnx", "alignmenter_edge.tiers.roberta_onnx:RobertaONNXClassifier",
                 "distilled safety RoBERTa, int8 ONNX via onnxruntime, batched",
                 needs_bundle=True, extra="onnx", modules=("onnxruntime", "tokenizers", "numpy"), strength=30),
        TierSpec("lexicon", "alignmenter_edge.tiers.lexicon:LexiconClassifier",
                 "weighted multi-category lexicon: whole words, phrases, idioms, negation, intent "
                 "and benign context; standard library only", strength=20),
        TierSpec("heuristic", "alignmenter_edge.tiers.heuristic:HeuristicClassifier",
                 "alignmenter 0.3.5's keyword heuristic, identical scores; standard library only",
                 strength=10),
        TierSpec("none", "alignmenter_edge.tiers.none:NoClassifier",
                 "no classification: every text scores 1.0 (explicit request only)"),
    )
}


def installed_bundle_manifests() -> dict[str, dict[str, Any]]:
    """Bundles in the data directory: bundle name → its manifest's JSON (read, not verified).
    Hidden directories are skipped: ``install`` stages its copies there."""
    root = bundles_dir()
    found: dict[str, dict[str, Any]] = {}
    if not root.is_dir():
        return found
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            continue
        manifest = child / MANIFEST_NAME
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("tier") in TIERS:
                found[child.name] = data
    return found


def installed_bundles() -> dict[str, str]:
    """Bundles in the data directory: bundle name → tier (manifests read, not verified)."""
    return {name: data["tier"] for name, data in installed_bundle_manifests().items()}


def available_tiers() -> dict[str, str]:
    """Tier name → "ready" or the reason it cannot load now (missing extra or bundle)."""
    bundles = installed_bundles()
    status = {}
    for spec in TIERS.values():
        missing = spec.missing_modules()
        if missing:
            status[spec.name] = f"missing {', '.join(missing)}: pip install 'alignmenter-edge[{spec.extra}]'"
        elif spec.needs_bundle and spec.name not in bundles.values():
            status[spec.name] = f"no bundle installed under {bundles_dir()}"
        else:
            status[spec.name] = "ready"
    return status


def load_classifier(name_or_path: str | os.PathLike[str] = "auto", threads: int | None = None,
                    batch_size: int | None = None, **options: Any) -> Classifier:
    """Load a classifier by tier name, installed bundle name, or bundle directory path.

    ``auto`` picks the strongest tier whose dependencies and bundle are present. A tier named
    explicitly that cannot load raises (never a silent fallback to another tier).
    """
    settings = dict(threads=threads, batch_size=batch_size, **options)
    requested = os.fspath(name_or_path)
    if requested == "auto":
        classifier = _load_auto(settings)
    elif requested in TIERS:
        classifier = _load_tier(TIERS[requested], settings)
    else:
        classifier = load_bundle_classifier(bundle_path(requested), settings)
    classifier.requested = requested
    return classifier


def bundle_path(name_or_path: str | os.PathLike[str]) -> Path:
    """The directory of a bundle given by path or by installed name; UnknownModelError otherwise."""
    requested = os.fspath(name_or_path)
    if is_bundle_dir(requested):
        return Path(requested)
    if requested in installed_bundles():
        return bundles_dir() / requested
    raise UnknownModelError(_unknown_message(requested))


def load_bundle_classifier(path: str | os.PathLike[str], settings: dict[str, Any]) -> Classifier:
    """Verify a bundle and load it with the tier its manifest names."""
    verify = settings.pop("verify", True)
    bundle = read_bundle(path, verify=verify)
    spec = TIERS[bundle.manifest.tier]
    _require_modules(spec)
    return _import_loader(spec).from_bundle(bundle, **settings)


def _load_tier(spec: TierSpec, settings: dict[str, Any]) -> Classifier:
    if not spec.needs_bundle:
        return _import_loader(spec)(**settings)
    _require_modules(spec)
    return load_bundle_classifier(bundles_dir() / _bundle_for_tier(spec.name), settings)


def _load_auto(settings: dict[str, Any]) -> Classifier:
    bundles = installed_bundles()
    for spec in sorted(TIERS.values(), key=lambda s: -s.strength):
        if spec.strength <= 0 or spec.missing_modules():
            continue
        if spec.needs_bundle and spec.name not in bundles.values():
            continue
        return _load_tier(spec, settings)
    raise UnknownModelError("auto found no usable tier.")  # heuristic is always usable


def _bundle_for_tier(tier: str) -> str:
    names = [name for name, t in installed_bundles().items() if t == tier]
    if not names:
        raise BundleError(
            f"no {tier} bundle is installed under {bundles_dir()} (set {HOME_ENV} to use another "
            f"data directory). Export one with 'alignmenter-edge export ...' and install it with "
            "'alignmenter-edge install BUNDLE_DIR', or pass the bundle directory path instead of "
            "the tier name."
        )
    if len(names) > 1:
        raise BundleError(
            f"several {tier} bundles are installed ({', '.join(names)}); pass one by name or path."
        )
    return names[0]


def _require_modules(spec: TierSpec) -> None:
    missing = spec.missing_modules()
    if missing:
        raise MissingDependencyError(
            f"the {spec.name} tier needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed. "
            f"Install it with: pip install 'alignmenter-edge[{spec.extra}]'"
        )


def _import_loader(spec: TierSpec) -> Any:
    module, _, attr = spec.loader.partition(":")
    return getattr(importlib.import_module(module), attr)


def _unknown_message(requested: str) -> str:
    hint = ""
    if Path(requested).exists():
        hint = f" {requested} exists but holds no {MANIFEST_NAME}."
    bundles = ", ".join(installed_bundles()) or "none"
    return (f"unknown model {requested!r}.{hint} Use a tier ({', '.join(TIERS)}, auto), an "
            f"installed bundle name (installed: {bundles}; directory {bundles_dir()}) or a bundle "
            "directory path.")
