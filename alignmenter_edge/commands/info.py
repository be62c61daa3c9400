"""``alignmenter-edge info [BUNDLE]``: tiers, bundles, versions, threads and CPU features; or one bundle."""

from __future__ import annotations

import argparse
import json
import platform
from importlib import metadata
from typing import Any

from .._version import __version__
from ..paths import HOME_ENV, bundles_dir
from ..bundle import is_bundle_dir, licence_summary, read_bundle
from ..errors import UnknownModelError
from ..registry import TIERS, available_tiers, bundle_path, name_read_as_tier, scan_installed
from ..system import cpu_features, default_threads, usable_cpus
from .options import not_empty
from ..tiers.prefix_state import disk_usage

RUNTIME_PACKAGES = ("onnxruntime", "tokenizers", "numpy", "llama-cpp-python", "pyyaml")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info", help="show installed tiers, bundles, versions and CPU; or one bundle, verified",
        description="Without BUNDLE: tiers, installed bundles, saved prefixes, versions, threads and "
                    "CPU. With BUNDLE (a directory or an installed name): that bundle's manifest "
                    "summary (sources and licences, quantization, files, parity), after hashing "
                    "every file against it.")
    parser.add_argument("bundle", nargs="?", help="a bundle directory or installed bundle name",
                        type=not_empty("a bundle directory or an installed bundle's name, or no BUNDLE "
                                       "for the overview"))
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=run)


def collect() -> dict[str, Any]:
    """Everything `info` reports (the bundles scanned once). Each model tier's packages are
    imported, so that one installed but broken (a missing native library) shows as such, not as
    ready."""
    installed = scan_installed()
    return {
        "alignmenter_edge": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tiers": {name: {"status": status, "description": TIERS[name].description}
                  for name, status in available_tiers(installed, try_imports=True).items()},
        "bundles_dir": str(bundles_dir()),
        "bundles": {name: _bundle_summary(manifest.to_json()) for name, manifest in installed.readable.items()},
        "broken_bundles": installed.broken,
        "unsupported_bundles": installed.unsupported,
        "prefix_states": disk_usage(),
        "packages": {name: _version(name) for name in RUNTIME_PACKAGES},
        "cpus": usable_cpus(),
        "default_threads": default_threads(),
        "cpu_features": cpu_features(),
    }


def run(args: argparse.Namespace) -> int:
    if args.bundle:
        return _show_bundle(args.bundle, as_json=args.json)
    report = collect()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"alignmenter-edge {report['alignmenter_edge']} (Python {report['python']}, {report['platform']})")
    print("tiers:")
    for name, tier in report["tiers"].items():
        print(f"  {name:<20} {tier['status']}")
    print(f"bundles in {report['bundles_dir']} (override with ${HOME_ENV}):")
    for name, bundle in report["bundles"].items():
        print(f"  {name:<20} {bundle['tier']:<20} {bundle['model_id']} [{bundle['quantization']}]; "
              f"licence {licence_summary(bundle['sources'])}")
    for name, problem in report["broken_bundles"].items():
        print(f"  {name:<20} BROKEN: {problem}")
    for name, reason in report["unsupported_bundles"].items():
        print(f"  {name:<20} NOT FOR THIS VERSION (auto skips it): {reason}")
    if not any(report[key] for key in ("bundles", "broken_bundles", "unsupported_bundles")):
        print("  (none)")
    states = report["prefix_states"]
    print(f"saved constitution prefixes in {states['dir']}: {states['entries']} "
          f"({states['bytes'] / 1e6:.0f} MB; deleting them only slows the next start)")
    print("packages: " + ", ".join(f"{k} {v or '-'}" for k, v in report["packages"].items()))
    print(f"threads: {report['default_threads']} by default ({report['cpus']} usable CPUs); "
          f"CPU features: {' '.join(report['cpu_features']) or 'unknown'}")
    return 0


def _bundle_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """Tier, model, quantization and each source's licence, as the manifest records them."""
    return {
        "tier": manifest["tier"],
        "model_id": manifest.get("model_id"),
        "quantization": manifest.get("quantization"),
        "sources": [{"role": source.get("role", "source"), "id": source.get("id"),
                     "license": source.get("license")} for source in manifest["sources"]],
    }


def _show_bundle(name_or_path: str, *, as_json: bool) -> int:
    """One bundle's manifest, after verifying every file in full (an integrity error exits 2)."""
    tier = name_read_as_tier(name_or_path)
    if tier is not None and not is_bundle_dir(name_or_path):
        raise UnknownModelError(
            f"{name_or_path!r} is a tier name, not a bundle: 'alignmenter-edge info' without an "
            "argument shows every tier's status and the installed bundles; 'info BUNDLE' takes a "
            "bundle directory or an installed bundle's name.")
    bundle = read_bundle(bundle_path(name_or_path), verify="full")
    manifest = bundle.manifest.to_json()
    if as_json:
        print(json.dumps({"path": str(bundle.path), "verified": "sha256 of every file", "digest": bundle.digest,
                          "manifest": manifest}, indent=2))
        return 0
    print(f"bundle {bundle.path} (digest {bundle.digest}): every file's sha256 matches the manifest")
    print(f"  {manifest['tier']}: {manifest['model_id']}, quantization {manifest['quantization']}, "
          f"threshold {manifest['threshold']}, max input tokens {manifest['max_input_tokens']}")
    print(f"  created by {manifest['created_by']} at {manifest['created_at'] or 'unknown time'}")
    for source in manifest["sources"]:
        revision = (source.get("commit") or source.get("resolved") or source.get("revision")
                    or ("local directory" if source.get("kind") == "local" else "revision not pinned"))
        licence = source.get("license")
        found_in = source.get("license_from", "not recorded")
        told = (f"licence {licence} (from {found_in})" if licence else
                "licence unknown (stated by neither its model card nor the model spec: check the "
                "source's terms before copying this bundle)")
        print(f"  {source.get('role', 'source')}: {source.get('id')} @ {revision}; {told}")
    print("  files: " + ", ".join(f"{name} {record['size'] / 1e6:.1f} MB"
                                  for name, record in manifest["files"].items()))
    for name, check in manifest["parity"].items():
        if isinstance(check, dict) and "label_agreement" in check:  # Manifest checked its figures
            print(f"  parity {name}: max |Δ P(unsafe)| {check['max_abs_diff_p_unsafe']:.2g}, "
                  f"label agreement {check['label_agreement']:.3f} over {check.get('probes', '?')} probes")
    return 0


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
