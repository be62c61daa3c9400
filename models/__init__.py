"""Model specs as data: YAML files next to this module (installed as ``alignmenter_edge.models``).

A spec names the source model ids and pinned revisions, labels (which output means unsafe),
limits and, for prompt-based models, the template and constitution. Exports read a spec and
copy what the runtime needs into the bundle manifest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import UnknownModelError

SPEC_DIR = Path(__file__).parent


def list_specs() -> list[str]:
    """Names of the specs shipped with the package."""
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))


def load_spec(name_or_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a shipped spec by name, or any spec YAML file by path."""
    import yaml  # base dependency, imported only when a spec is read

    path = Path(name_or_path)
    if not path.suffix:
        path = SPEC_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise UnknownModelError(
            f"no model spec {os.fspath(name_or_path)!r}; shipped specs: {', '.join(list_specs()) or 'none'}."
        )
    with open(path, encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    if not isinstance(spec, dict):
        raise UnknownModelError(f"{path}: a model spec must be a YAML mapping.")
    return spec
