"""``alignmenter-edge install BUNDLE_DIR [--name NAME] [--force]``: a verified copy into the data directory."""

from __future__ import annotations

import argparse
import sys

from ..paths import HOME_ENV
from .options import not_empty


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "install", help="copy a bundle into the data directory, verified, so it loads by name",
        description="Copy an exported bundle (e.g. from removable media) into the data directory's "
                    f"bundles/ (${HOME_ENV} overrides where that is). Every copied file is hashed "
                    "against the manifest before the bundle is moved into place.")
    parser.add_argument("bundle", help="bundle directory (holds manifest.json)",
                        type=not_empty("a bundle directory"))
    parser.add_argument("--name", help="name to install under (default: the directory's name)")
    parser.add_argument("--force", action="store_true", help="replace an installed bundle of that name")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..install import install_bundle

    bundle = install_bundle(args.bundle, args.name, force=args.force)
    manifest = bundle.manifest
    size = sum(record.size for record in manifest.files.values())
    print(f"installed {bundle.path.name} ({manifest.tier}, {manifest.model_id}, {manifest.quantization}, "
          f"{size / 1e6:.1f} MB, every file sha256-verified) at {bundle.path}; "
          f"load it with --model {bundle.path.name}")
    unknown = [str(source.get("id")) for source in manifest.sources
               if not source.get("license")]
    if unknown:
        print(f"note: no licence is recorded for {', '.join(unknown)}; check the model pages' terms "
              "before copying this bundle to other machines.", file=sys.stderr)
    return 0
