"""``alignmenter-edge export {roberta,constitutional}``: build-machine exports into bundles.

The export stage needs the ``[export]`` extra (torch, transformers, ...); it is imported only
when an export actually runs, so the rest of the CLI stays light.
"""

from __future__ import annotations

import argparse
import importlib

EXPORTERS = ("export_roberta", "export_constitutional")  # sibling modules, one per export


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a model into a bundle (needs [export])")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{roberta,constitutional}")
    for name in EXPORTERS:
        importlib.import_module(f"{__package__}.{name}").add_parser(kinds)
