"""Lazy imports of optional dependencies, with an install hint naming the extra."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import MissingDependencyError


def install_command(extra: str | None) -> str:
    """The pip command that installs ``extra`` (the plain package when None)."""
    return f"pip install 'alignmenter-edge[{extra}]'" if extra else "pip install alignmenter-edge"


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError telling which extra to install, or, when
    the package is there but does not import (a broken native library, a mismatched build), that
    it must be reinstalled."""
    package = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        # Not installed: the package is not on the path (or is blocked in sys.modules), or the very
        # module asked for is missing. A submodule of its own failing (a lost capi/, a broken native
        # extension, "cannot import name") means an installed package is broken: reinstall.
        if not is_installed(package) or (isinstance(exc, ModuleNotFoundError) and exc.name == module):
            raise MissingDependencyError(
                f"{purpose} needs the Python package '{package}', which is not installed. "
                f"Install it with: {install_command(extra)}"
            ) from exc
        failure: Exception = exc
    except Exception as exc:  # noqa: BLE001 - whatever an installed package raises at import
        # llama_cpp: OSError/RuntimeError "Failed to load shared library"; a build against another
        # numpy: ValueError "numpy.dtype size changed", AttributeError "_ARRAY_API not found"...
        failure = exc
    raise MissingDependencyError(
        f"{purpose} needs the Python package '{package}', which is installed but fails to import "
        f"({type(failure).__name__}: {failure}). Reinstall it: pip install --force-reinstall "
        f"--no-cache-dir 'alignmenter-edge[{extra}]'"
    ) from failure


def is_installed(module: str) -> bool:
    """True when ``module`` is installed (found on the import path). It is not imported, so a
    package that is installed but fails to import still counts; :func:`require` tells."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
