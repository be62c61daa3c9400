"""``alignmenter-edge info``: a tier's status tells a broken package from a ready one; a tier name
is not taken for a bundle; an unknown licence says what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from alignmenter_edge.bundle import write_bundle
from alignmenter_edge.cli import main
from tests.helpers import require

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("raised, cause", [
    ("ImportError('libonnxruntime.so.1: cannot open shared object file')",
     "ImportError: libonnxruntime.so.1"),
    ("ValueError('numpy.dtype size changed')", "ValueError: numpy.dtype size changed"),
])
def test_info_reports_an_installed_package_that_fails_to_import_as_broken(tmp_path: Path, data_home: Path,
                                                                          raised: str, cause: str) -> None:
    """onnxruntime found on the path but raising at import (a missing native library, a build
    against another numpy) is not 'ready' or 'no bundle', nor a traceback: it is BROKEN, with the
    reinstall command."""
    require("onnxruntime")
    fake = tmp_path / "site" / "onnxruntime"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(f"raise {raised}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)]),
           "ALIGNMENTER_EDGE_HOME": str(data_home)}
    proc = subprocess.run([sys.executable, "-m", "alignmenter_edge", "info"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = next(row for row in proc.stdout.splitlines() if row.strip().startswith("roberta-onnx"))
    assert "BROKEN: the roberta-onnx tier needs the Python package 'onnxruntime', which is installed " \
           f"but fails to import ({cause}" in line
    assert "pip install --force-reinstall --no-cache-dir 'alignmenter-edge[onnx]'" in line
    heuristic = next(row for row in proc.stdout.splitlines() if row.strip().startswith("heuristic"))
    assert heuristic.split() == ["heuristic", "ready"]


@pytest.mark.parametrize("name", ["lexicon", "Heuristic", "auto"])
def test_info_with_a_tier_name_says_it_is_a_tier(data_home: Path, capsys, name: str) -> None:
    assert main(["info", name]) == 2
    err = capsys.readouterr().err
    assert f"{name!r} is a tier name, not a bundle" in err and "unknown model" not in err


def test_info_on_a_bundle_with_no_known_licence_says_to_check_its_terms(tmp_path: Path, data_home: Path,
                                                                       capsys) -> None:
    root = tmp_path / "b"
    root.mkdir()
    (root / "model.onnx").write_bytes(b"weights")
    write_bundle(root, ["model.onnx"], tier="roberta-onnx", model_id="org/model",
                 sources=[{"role": "model", "id": "org/model", "kind": "hub", "commit": "abc123",
                           "license": None, "license_from": "unknown"}],
                 labels={"unsafe_index": 1}, max_input_tokens=512, long_input_policy="windows",
                 quantization="int8")
    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "model: org/model @ abc123; licence unknown (stated by neither its model card nor the model " \
           "spec: check the source's terms before copying this bundle)" in out
    assert "from unknown" not in out
