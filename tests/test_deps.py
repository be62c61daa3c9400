"""Optional dependencies: a missing package names the extra; a broken one says to reinstall it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from alignmenter_edge.deps import require
from alignmenter_edge.errors import MissingDependencyError


@pytest.fixture
def packages(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("edge_test_")]:
        del sys.modules[name]


def test_a_package_that_is_not_installed_names_the_extra(packages: Path) -> None:
    with pytest.raises(MissingDependencyError, match=r"'edge_test_absent', which is not installed\. "
                                                     r"Install it with: pip install 'alignmenter-edge\[gguf\]'"):
        require("edge_test_absent", "gguf", "the constitutional-gguf tier")


@pytest.mark.parametrize("body, cause", [
    ("raise RuntimeError('Failed to load shared library libllama.so')", "RuntimeError: Failed to load shared library"),
    ("raise OSError('libgomp.so.1: cannot open shared object file')", "OSError: libgomp.so.1"),
    # a build against another numpy: not an ImportError, still an installed package to reinstall
    ("raise ValueError('numpy.dtype size changed, may indicate binary incompatibility')",
     "ValueError: numpy.dtype size changed"),
    ("raise AttributeError('_ARRAY_API not found')", "AttributeError: _ARRAY_API not found"),
    ("import edge_test_missing_inner_dependency", "No module named 'edge_test_missing_inner_dependency'"),
    # a submodule of its own lost (a half-finished upgrade): it read as "which is not installed"
    ("from .capi import _pybind_state", "No module named 'edge_test_broken.capi'"),
    ("import edge_test_broken.capi", "No module named 'edge_test_broken.capi'"),
    ("from . import _native", "cannot import name '_native'"),
])
def test_an_installed_package_that_fails_to_import_says_reinstall_not_install(packages: Path, body: str,
                                                                              cause: str) -> None:
    """Not "which is not installed": the package is there; its native library or a dependency of its
    own is broken, and the fix is a reinstall."""
    (packages / "edge_test_broken").mkdir()
    (packages / "edge_test_broken" / "__init__.py").write_text(body + "\n")
    with pytest.raises(MissingDependencyError) as failure:
        require("edge_test_broken", "gguf", "the constitutional-gguf tier")
    message = str(failure.value)
    assert "'edge_test_broken', which is installed but fails to import" in message and cause in message
    assert "pip install --force-reinstall --no-cache-dir 'alignmenter-edge[gguf]'" in message


def test_a_submodule_asked_for_that_is_missing_is_not_installed(packages: Path) -> None:
    (packages / "edge_test_pkg").mkdir()
    (packages / "edge_test_pkg" / "__init__.py").write_text("")
    with pytest.raises(MissingDependencyError, match=r"'edge_test_pkg', which is not installed"):
        require("edge_test_pkg.absent", "onnx", "the roberta-onnx tier")


def test_an_import_blocked_in_sys_modules_is_not_installed(packages: Path, monkeypatch) -> None:
    """How the test suite hides an optional package: it must read as not installed."""
    (packages / "edge_test_blocked").mkdir()
    (packages / "edge_test_blocked" / "__init__.py").write_text("")
    monkeypatch.setitem(sys.modules, "edge_test_blocked", None)
    with pytest.raises(MissingDependencyError, match=r"'edge_test_blocked', which is not installed"):
        require("edge_test_blocked", "onnx", "the roberta-onnx tier")
