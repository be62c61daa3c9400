"""``alignmenter-edge uninstall NAME``: delete an installed bundle from the data directory."""

from __future__ import annotations

import argparse

from ..paths import HOME_ENV


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "uninstall", help="delete an installed bundle from the data directory",
        description="Delete a bundle that `install` put into the data directory's bundles/ "
                    f"(${HOME_ENV} overrides where that is). Takes an installed name, never a path; "
                    "`alignmenter-edge info` lists the names.")
    parser.add_argument("name", help="installed bundle name")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..install import uninstall_bundle

    freed = uninstall_bundle(args.name)
    print(f"uninstalled {args.name} ({freed / 1e6:.1f} MB freed)")
    return 0
