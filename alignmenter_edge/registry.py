"""Tier names → loaders, bundle discovery, and ``auto``. Tiers register here and only here."""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .bundle import MANIFEST_NAME, Manifest, is_bundle_dir, read_bundle, read_manifest
from .classifier import Classifier
from .deps import install_command, is_installed, require
from .errors import BundleError, MissingDependencyError, UnknownModelError, UnsupportedBundleError
from .paths import HOME_ENV, bundles_dir, checked_bundles_dir
from .thresholds import check_threshold


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


AUTO = "auto"


def name_read_as_tier(name: str) -> str | None:
    """The tier (or ``auto``) that ``name`` reads as, or None. Compared case-insensitively: the
    alignmenter drop-in lower-cases tier names, so a bundle named ``None`` would load ``none``."""
    folded = name.casefold()
    return next((tier for tier in (*TIERS, AUTO) if tier.casefold() == folded), None)


class InstalledBundles(NamedTuple):
    """The bundles in the data directory, by name, as one scan found them."""

    readable: dict[str, Manifest]
    broken: dict[str, str]  # manifest damaged: what is wrong and the fix
    unsupported: dict[str, str]  # format version or tier this version does not know: why
    unsupported_tiers: dict[str, str]  # of those, the ones whose manifest names a tier: that tier

    @property
    def tiers(self) -> dict[str, str]:
        """Readable bundle name → its tier."""
        return {name: manifest.tier for name, manifest in self.readable.items()}


def scan_installed() -> InstalledBundles:
    """Read and check every installed bundle's manifest (files not verified). A bundle of a format
    version or tier this version does not know (from a newer one sharing the data home) is not
    broken, only not for this version. Hidden directories are skipped (``install`` stages its
    copies there), as are directories without a manifest."""
    root = checked_bundles_dir()
    found = InstalledBundles({}, {}, {}, {})
    readable, broken, unsupported, unsupported_tiers = found
    if not root.is_dir():
        return found
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not is_bundle_dir(child):
            continue
        try:
            readable[child.name] = read_manifest(child / MANIFEST_NAME)
        except UnsupportedBundleError as exc:
            unsupported[child.name] = f"installed bundle {child.name!r} is not for this version: {exc}"
            if exc.declared_tier is not None:
                unsupported_tiers[child.name] = exc.declared_tier
        except BundleError as exc:
            broken[child.name] = (
                f"installed bundle {child.name!r} cannot be read: {exc} Reinstall it with "
                f"'alignmenter-edge install BUNDLE_DIR --name {child.name} --force', or remove it "
                f"with 'alignmenter-edge uninstall {child.name}'.")
    return found


def installed_bundles() -> dict[str, str]:
    """Readable bundles in the data directory: bundle name → tier (manifests read, not verified)."""
    return scan_installed().tiers


def available_tiers(installed: InstalledBundles | None = None, *,
                    try_imports: bool = False) -> dict[str, str]:
    """Tier name → "ready" or the reason it cannot load by tier name or ``auto`` now
    (``installed``: a scan already made, e.g. by ``info``). ``try_imports``: also import each
    model tier's packages, so that one installed but failing to import is reported, not ready."""
    installed = scan_installed() if installed is None else installed
    tiers = installed.tiers
    return {spec.name: _tier_status(spec, tiers, installed.broken, try_imports) for spec in TIERS.values()}


def _tier_status(spec: TierSpec, bundles: dict[str, str], broken: dict[str, str],
                 try_imports: bool) -> str:
    missing = spec.missing_modules()
    if missing:
        return f"missing {', '.join(missing)}: {install_command(spec.extra)}"
    if try_imports:
        for module in spec.modules:
            try:
                require(module, spec.extra or "", f"the {spec.name} tier")
            except MissingDependencyError as exc:
                return f"BROKEN: {exc}"
    if not spec.needs_bundle:
        return "ready"
    if broken:
        return (f"unreadable bundle(s) installed ({', '.join(broken)}): reinstall or uninstall "
                "them, or load a bundle by name")
    names = _bundles_of(spec.name, bundles)
    if not names:
        return f"no bundle installed under {bundles_dir()}"
    if len(names) > 1:
        return f"several bundles installed ({', '.join(names)}): load one with --model NAME"
    return "ready"


def load_classifier(name_or_path: str | os.PathLike[str] = "auto", threads: int | None = None,
                    batch_size: int | None = None, **options: Any) -> Classifier:
    """Load a classifier by tier name, installed bundle name, or bundle directory path.

    ``auto`` picks the strongest tier whose dependencies and bundle are present. A tier named
    explicitly that cannot load raises (never a silent fallback to another tier).
    ``threshold=T`` (any tier) flags texts scoring below T instead of below the model's own
    threshold; ``info.model_threshold`` keeps the model's. ``verify`` applies to bundle files
    (tiers without a bundle ignore it). Other options are the loaded tier's own keyword arguments;
    one it does not take is a ValueError naming those it does, also under ``auto``.
    """
    threshold = options.pop("threshold", None)
    if threshold is not None:
        threshold = check_threshold(threshold)  # before a model loads, not after
    requested = check_model_name(name_or_path)
    settings = dict(threads=threads, batch_size=batch_size, **options)
    if isinstance(name_or_path, os.PathLike):  # a Path is a path, never a tier or installed name
        classifier = load_bundle_classifier(_bundle_at(requested), settings)
    else:
        refuse_directory_named_like_a_tier(requested)
        _refuse_bundle_named_like_a_tier(requested)
        if requested == AUTO:
            classifier = _load_auto(settings)
        elif requested in TIERS:
            classifier = _load_tier(TIERS[requested], settings, requested)
        else:
            classifier = load_bundle_classifier(bundle_path(requested), settings)
    classifier.requested = requested
    if threshold is not None:
        classifier.use_threshold(threshold)
    return classifier


def bundle_path(name_or_path: str | os.PathLike[str]) -> Path:
    """The directory of a bundle given by path or by installed name; UnknownModelError otherwise."""
    requested = os.fspath(name_or_path)
    if is_bundle_dir(requested):
        return Path(requested)
    installed = scan_installed()
    if requested in installed.broken:
        raise BundleError(installed.broken[requested])
    if requested in installed.unsupported:
        raise UnsupportedBundleError(installed.unsupported[requested])
    if requested in installed.readable:
        return bundles_dir() / requested
    raise UnknownModelError(_unknown_message(requested))


def check_model_name(name_or_path: object) -> str:
    """``name_or_path`` as the str load_classifier reads: TypeError for what is neither a str nor an
    os.PathLike (bytes too), UnknownModelError for an empty or whitespace-only name."""
    name = os.fspath(name_or_path) if isinstance(name_or_path, os.PathLike) else name_or_path
    if not isinstance(name, str):
        raise TypeError(
            "the model must be a str (a tier or installed bundle name) or an os.PathLike (a bundle "
            f"directory), got {type(name).__name__}" + (": decode it first" if isinstance(name, bytes) else "") + ".")
    if not name.strip():
        raise UnknownModelError(
            f"the model name is empty{' or whitespace only' if name else ''}; give a tier name "
            f"({', '.join(TIERS)}, {AUTO}), an installed bundle's name or a bundle directory path.")
    return name


def _bundle_at(path: str) -> Path:
    """``path`` as a bundle directory (given as an ``os.PathLike``: never read as a name)."""
    if is_bundle_dir(path):
        return Path(path)
    what = f"holds no {MANIFEST_NAME}" if Path(path).exists() else "does not exist"
    raise UnknownModelError(
        f"no bundle at {path}: it {what}. A pathlib.Path (any os.PathLike) is always read as a bundle "
        "directory path; pass a str to load a tier or an installed bundle by name.")


def refuse_directory_named_like_a_tier(requested: str, tier: str | None = None) -> None:
    """A str that reads as a tier (or ``auto``, or, in the drop-in, alignmenter's RoBERTa name)
    while a bundle directory of that name is in the working directory could mean either:
    BundleError saying how to pass the path, never a silent choice (the drop-in lower-cases tier
    names, so ``./Lexicon`` would have been the lexicon tier there and the bundle here).
    ``tier``: what ``requested`` reads as when it is not a tier's own name."""
    tier = tier or name_read_as_tier(requested)
    if tier is None or not is_bundle_dir(requested):
        return
    case = " (tier names are case-insensitive)" if requested != tier and requested.casefold() == tier else ""
    raise BundleError(
        f"{requested!r} reads as the {tier!r} tier{case}, but "
        f"{Path(requested).absolute()} in the working directory is a bundle directory, so it could "
        f"mean either; refusing to guess. To load that bundle pass './{requested}' or its absolute "
        "path (Python: or a pathlib.Path); to load the tier, rename that directory or run from "
        "another one.")


def _refuse_bundle_named_like_a_tier(requested: str) -> None:
    """A bundle installed under a tier's name in any case (``None``, ``Auto``: older versions
    allowed those) makes a request for that name ambiguous: BundleError naming the clash, never
    a silent choice of the tier or the bundle."""
    tier = name_read_as_tier(requested)
    root = bundles_dir()  # unchecked: a tier without a bundle loads whatever the data directory is
    if tier is None or not root.is_dir():
        return
    for child in root.iterdir():
        if child.name.casefold() == requested.casefold() and is_bundle_dir(child):
            raise BundleError(
                f"the installed bundle {child.name!r} ({child}) has the name of the {tier!r} tier "
                f"(tier names are case-insensitive), so {requested!r} could mean either; refusing "
                f"to guess. Rename that directory to another name, or remove it with "
                f"'alignmenter-edge uninstall {child.name}'.")


def load_bundle_classifier(path: str | os.PathLike[str], settings: dict[str, Any]) -> Classifier:
    """Verify a bundle and load it with the tier its manifest names."""
    settings = dict(settings)
    verify = settings.pop("verify", True)
    bundle = read_bundle(path, verify=verify)
    spec = TIERS[bundle.manifest.tier]
    _require_modules(spec)
    loader = _import_loader(spec)
    _check_options(spec, loader, settings, os.fspath(path))
    return loader.from_bundle(bundle, **settings)


def _load_tier(spec: TierSpec, settings: dict[str, Any], requested: str,
               bundles: dict[str, str] | None = None) -> Classifier:
    """``bundles``: the installed bundles' tiers when the caller has already scanned them."""
    if not spec.needs_bundle:
        settings = {k: v for k, v in settings.items() if k != "verify"}  # it has no bundle files
        loader = _import_loader(spec)
        _check_options(spec, loader, settings, requested)
        return loader(**settings)
    _require_modules(spec)
    bundles = _installed_for_choice(requested) if bundles is None else bundles
    return load_bundle_classifier(bundles_dir() / _bundle_for_tier(spec.name, requested, bundles), settings)


def _load_auto(settings: dict[str, Any]) -> Classifier:
    installed = _scan_for_choice(AUTO)
    bundles = installed.tiers
    passed_over = []  # stronger tiers with a bundle installed that cannot run here
    for spec in sorted(TIERS.values(), key=lambda s: -s.strength):
        if spec.strength <= 0:
            continue
        names = _bundles_of(spec.name, bundles)
        missing = spec.missing_modules()
        if missing:
            if names:
                passed_over.append(
                    f"auto passed over the installed {spec.name} bundle {', '.join(names)}: it needs "
                    f"{', '.join(missing)} ({install_command(spec.extra)})")
            continue
        if spec.needs_bundle and not names:
            continue
        classifier = _load_tier(spec, settings, AUTO, bundles)
        classifier.notes = tuple(passed_over + _unsupported_notes(installed, spec.strength))
        return classifier
    raise UnknownModelError("auto found no usable tier.")  # heuristic is always usable


def _unsupported_notes(installed: InstalledBundles, picked_strength: int) -> list[str]:
    """Notes naming the installed bundles not for this version (a newer format, an unknown tier)
    whose tier is stronger than the one ``auto`` picked, or unknown: why auto did not use them."""
    notes = []
    for name, why in installed.unsupported.items():
        tier = installed.unsupported_tiers.get(name)
        spec = TIERS.get(tier) if tier else None
        if spec is not None and spec.strength <= picked_strength:
            continue
        notes.append(f"auto passed over the installed {tier + ' ' if tier else ''}bundle {name}, which "
                     + why.removeprefix(f"installed bundle {name!r} "))
    return notes


def _installed_for_choice(requested: str) -> dict[str, str]:
    """Installed bundles (name → tier) for picking one by tier; BundleError while any installed
    bundle is unreadable, since it may be the one that would have been picked."""
    return _scan_for_choice(requested).tiers


def _scan_for_choice(requested: str) -> InstalledBundles:
    installed = scan_installed()
    if installed.broken:
        raise BundleError(f"{requested!r} does not pick a bundle while an installed bundle is "
                          "unreadable (it may be the one meant): " + " ".join(installed.broken.values()))
    return installed


def _bundles_of(tier: str, bundles: dict[str, str]) -> list[str]:
    """The names of the installed bundles (name → tier) that are of ``tier``."""
    return [name for name, of in bundles.items() if of == tier]


def _bundle_for_tier(tier: str, requested: str, bundles: dict[str, str]) -> str:
    names = _bundles_of(tier, bundles)
    if not names:
        raise BundleError(
            f"no {tier} bundle is installed under {bundles_dir()} (set {HOME_ENV} to use another "
            f"data directory). Export one with 'alignmenter-edge export ...' and install it with "
            "'alignmenter-edge install BUNDLE_DIR', or pass the bundle directory path instead of "
            "the tier name."
        )
    if len(names) > 1:
        raise BundleError(
            f"several {tier} bundles are installed ({', '.join(names)}), so {requested!r} does not "
            f"pick one of them. Load one by name: --model {names[0]} (Python: "
            f"load_classifier({names[0]!r})), or by path; or uninstall the others."
        )
    return names[0]


def _require_modules(spec: TierSpec) -> None:
    missing = spec.missing_modules()
    if missing:
        raise MissingDependencyError(
            f"the {spec.name} tier needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed. "
            f"Install {'it' if len(missing) == 1 else 'them'} with: {install_command(spec.extra)}"
        )


def _check_options(spec: TierSpec, loader: Any, settings: dict[str, Any], requested: str) -> None:
    """ValueError naming the options the tier's class does not take, and those it does (a
    tier's options are its constructor's keyword arguments)."""
    parameters = inspect.signature(loader.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return  # the class takes any keyword; it checks its own
    accepted = {name for name, p in parameters.items()
                if name not in ("self", "bundle") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    unknown = sorted(set(settings) - accepted)
    if unknown:
        picked = f" (what {requested!r} picked here)" if requested != spec.name else ""
        raise ValueError(
            f"the {spec.name} tier{picked} takes no option {', '.join(map(repr, unknown))}; its "
            f"options are {', '.join(sorted(accepted))}, plus threshold"
            + (" and verify" if spec.needs_bundle else "") + ". Drop the others, or load the "
            "tier they belong to by name.")


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
