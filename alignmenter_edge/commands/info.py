"""``alignmenter-edge info``: tiers, bundles, versions, threads and CPU features."""

from __future__ import annotations

import argparse
import json
import platform
from importlib import metadata
from typing import Any

from .._version import __version__
from ..paths import HOME_ENV, bundles_dir
from ..registry import TIERS, available_tiers, installed_bundle_manifests
from ..system import cpu_features, default_threads, usable_cpus
from ..tiers.prefix_state import disk_usage

RUNTIME_PACKAGES = ("onnxruntime", "tokenizers", "numpy", "llama-cpp-python", "pyyaml")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="show installed tiers, bundles, versions and CPU")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=run)


def collect() -> dict[str, Any]:
    """Everything `info` reports, without importing any heavy package."""
    return {
        "alignmenter_edge": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tiers": {name: {"status": status, "description": TIERS[name].description}
                  for name, status in available_tiers().items()},
        "bundles_dir": str(bundles_dir()),
        "bundles": {name: _bundle_summary(manifest) for name, manifest in installed_bundle_manifests().items()},
        "prefix_states": disk_usage(),
        "packages": {name: _version(name) for name in RUNTIME_PACKAGES},
        "cpus": usable_cpus(),
        "default_threads": default_threads(),
        "cpu_features": cpu_features(),
    }


def run(args: argparse.Namespace) -> int:
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
        licences = ", ".join(f"{source['license'] or 'unknown'} ({source['role']})"
                             for source in bundle["sources"]) or "not recorded"
        print(f"  {name:<20} {bundle['tier']:<20} {bundle['model_id']} [{bundle['quantization']}]; "
              f"licence: {licences}")
    if not report["bundles"]:
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
    sources = [source for source in manifest.get("sources") or [] if isinstance(source, dict)]
    return {
        "tier": manifest["tier"],
        "model_id": manifest.get("model_id"),
        "quantization": manifest.get("quantization"),
        "sources": [{"role": source.get("role", "source"), "id": source.get("id"),
                     "license": source.get("license")} for source in sources],
    }


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
