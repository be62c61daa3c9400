"""Install shape and import hygiene: bare installs work, the runtime never imports torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from alignmenter_edge.registry import TIERS
from tests.helpers import require

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "optimum", "peft", "accelerate")


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory) -> Path:
    """A fresh venv with only `pip install --no-deps .` (no PyYAML, numpy, onnxruntime...)."""
    require("setuptools", minversion="77")  # builds the wheel offline ([test] extra)
    root = tmp_path_factory.mktemp("bare")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", "__pycache__", "work", ".pytest_cache"))
    wheels = root / "wheels"
    # Build the wheel with this environment's setuptools (offline), install it with --no-deps.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "-w", str(wheels), str(source)], check=True, timeout=600,
                   capture_output=True)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-index", *map(str, wheels.glob("*.whl"))],
                   check=True, timeout=600, capture_output=True)
    return venv


def test_heuristic_scores_on_a_python_with_nothing_installed(bare_venv: Path, tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import importlib.util, json, sys
        from alignmenter_edge import load_classifier
        missing = [m for m in ("yaml", "numpy", "onnxruntime", "tokenizers", "llama_cpp", "torch")
                   if importlib.util.find_spec(m) is not None]
        with load_classifier("heuristic") as clf:
            scores = clf.score_batch(["How do I install Python?", "I want to attack someone with violence"])
        with load_classifier("auto") as auto:
            tier = auto.info.tier
        print(json.dumps({"installed": missing, "scores": scores, "auto": tier}))
    """)
    env = {"ALIGNMENTER_EDGE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([str(bare_venv / "bin" / "python"), "-c", code], check=True,
                         capture_output=True, text=True, timeout=120, env=env).stdout
    result = json.loads(out)
    assert result["installed"] == []  # really bare
    assert result["scores"] == [1.0, pytest.approx(0.6)]
    assert TIERS[result["auto"]].needs_bundle is False

    cli = subprocess.run([str(bare_venv / "bin" / "alignmenter-edge"), "score",
                          str(REPO / "examples" / "sessions.jsonl"), "--model", "heuristic"],
                         check=True, capture_output=True, text=True, timeout=120, env=env)
    assert len(cli.stdout.splitlines()) == 10


def test_missing_extra_error_on_bare_python(bare_venv: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "model.onnx").write_bytes(b"x")
    code = textwrap.dedent(f"""
        from alignmenter_edge.bundle import write_bundle
        from alignmenter_edge import load_classifier, MissingDependencyError
        write_bundle({str(bundle)!r}, ["model.onnx"], tier="roberta-onnx", model_id="m", sources=[],
                     labels={{"unsafe_index": 1}}, max_input_tokens=8, long_input_policy="w",
                     quantization="none")
        try:
            load_classifier({str(bundle)!r})
        except MissingDependencyError as exc:
            print(exc)
    """)
    out = subprocess.run([str(bare_venv / "bin" / "python"), "-c", code], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    assert "pip install 'alignmenter-edge[onnx]'" in out
    assert "needs onnxruntime, tokenizers, numpy, which are not installed" in out


def test_install_puts_no_top_level_export_or_models(bare_venv: Path) -> None:
    site = next((bare_venv / "lib").glob("python3*/site-packages"))
    assert not (site / "export").exists() and not (site / "models").exists()
    assert (site / "alignmenter_edge" / "export" / "__init__.py").is_file()
    assert (site / "alignmenter_edge" / "models" / "__init__.py").is_file()
    shipped = {p.name for p in (site / "alignmenter_edge" / "models").glob("*.yaml")}
    assert shipped == {p.name for p in (REPO / "models").glob("*.yaml")}


def test_install_ships_the_licence(bare_venv: Path) -> None:
    site = next((bare_venv / "lib").glob("python3*/site-packages"))
    dist_info = next(site.glob("alignmenter_edge-*.dist-info"))
    metadata = (dist_info / "METADATA").read_text(encoding="utf-8")
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    shipped = (dist_info / "licenses" / "LICENSE").read_text(encoding="utf-8")
    assert shipped == (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in shipped and "END OF TERMS AND CONDITIONS" in shipped


BUNDLE_FIXTURES = {"roberta-onnx": "tiny_roberta_bundle", "constitutional-gguf": "tiny_constitutional_bundle"}


@pytest.mark.parametrize("tier", [name for name in TIERS])
def test_runtime_never_imports_torch_or_transformers(tier: str, request, tmp_path: Path) -> None:
    """Load and score with every runtime tier in a clean interpreter, then inspect sys.modules."""
    target = tier
    if TIERS[tier].needs_bundle:
        target = str(request.getfixturevalue(BUNDLE_FIXTURES[tier]))
    code = textwrap.dedent(f"""
        import json, sys
        from alignmenter_edge import load_classifier
        with load_classifier({target!r}, threads=1) as clf:
            scores = clf.score_batch(["hello there", "how to build a weapon"])
            assert clf.info.tier == {tier!r}, clf.info
        print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
    """)
    env_home = {"ALIGNMENTER_EDGE_HOME": str(tmp_path / "home")}
    import os
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         timeout=300, env={**os.environ, **env_home}).stdout
    assert json.loads(out.splitlines()[-1]) == []


def test_cli_startup_stays_light() -> None:
    code = ("import sys; from alignmenter_edge.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch','transformers','numpy','onnxruntime','llama_cpp','yaml') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    assert out.strip() == "[]"
