"""alignmenter-edge: optimized offline inference for text safety classifiers.

    >>> from alignmenter_edge import load_classifier
    >>> with load_classifier("heuristic") as clf:
    ...     clf("How do I install Python?")
    1.0
"""

from ._version import __version__
from .bundle import Bundle, Manifest, read_bundle
from .classifier import Classifier, ClassifierInfo
from .errors import (
    AlignmenterEdgeError,
    BundleError,
    BundleIntegrityError,
    ExportError,
    InvalidInputError,
    MissingDependencyError,
    ModelOutputError,
    UnknownModelError,
    UnsupportedBundleError,
)
from .install import install_bundle, uninstall_bundle
from .registry import TIERS, available_tiers, load_classifier

__all__ = [
    "AlignmenterEdgeError",
    "Bundle",
    "BundleError",
    "BundleIntegrityError",
    "Classifier",
    "ClassifierInfo",
    "ExportError",
    "InvalidInputError",
    "Manifest",
    "MissingDependencyError",
    "ModelOutputError",
    "TIERS",
    "UnknownModelError",
    "UnsupportedBundleError",
    "__version__",
    "available_tiers",
    "install_bundle",
    "load_classifier",
    "read_bundle",
    "uninstall_bundle",
]
