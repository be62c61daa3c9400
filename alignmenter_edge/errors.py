"""One exception hierarchy: every error about dependencies, models, bundles, input, model output
and exports derives from AlignmenterEdgeError. A bad argument to a function (``threads=0``, an
unknown option, a name that is not a string) is a plain ValueError or TypeError, as in the
standard library."""

from __future__ import annotations


class AlignmenterEdgeError(Exception):
    """Base class of the errors about dependencies, models, bundles, input, output and exports."""


class MissingDependencyError(AlignmenterEdgeError, ImportError):
    """An optional dependency of a tier is not installed; the message names the extra."""


class UnknownModelError(AlignmenterEdgeError, LookupError):
    """A model name or path that is neither a tier, an installed bundle, nor a bundle directory."""


class BundleError(AlignmenterEdgeError):
    """A bundle on disk is missing, incomplete, corrupt or of an unsupported format."""


class UnsupportedBundleError(BundleError):
    """A bundle of a format version or tier this version does not know (e.g. from a newer one).
    ``declared_tier``: the tier its manifest names, if it names one."""

    def __init__(self, message: str, declared_tier: str | None = None) -> None:
        super().__init__(message)
        self.declared_tier = declared_tier


class BundleIntegrityError(BundleError):
    """A file of a bundle does not match the size or sha256 recorded in its manifest."""


class InvalidInputError(AlignmenterEdgeError, ValueError):
    """Input that cannot be scored (not a string, undecodable, malformed row)."""


class ModelOutputError(AlignmenterEdgeError, ArithmeticError):
    """The model produced a non-finite or out-of-range value; never turned into a score."""


class ExportError(AlignmenterEdgeError):
    """An export failed, including a parity check against the reference model."""


__all__ = [
    "AlignmenterEdgeError",
    "BundleError",
    "BundleIntegrityError",
    "ExportError",
    "InvalidInputError",
    "MissingDependencyError",
    "ModelOutputError",
    "UnknownModelError",
    "UnsupportedBundleError",
]
