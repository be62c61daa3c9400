"""Two rows of the fault matrix that hold for every tier: nothing touches the network, nothing is
unpickled.

Every available tier is loaded and used (API, alignmenter drop-in, ``score`` CLI) in a subprocess
run by tests/data/offline_guard.py: an audit hook refuses and records every socket connection, DNS
look-up and pickle global lookup made from Python, and ``socket.socket`` /
``socket.create_connection`` raise. The source of the runtime and the export stage is also
scanned for pickle-based loaders, and the files of exported bundles are checked for pickle data.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from alignmenter_edge.registry import TIERS

ROOT = Path(__file__).resolve().parents[1]
GUARD = ROOT / "tests" / "data" / "offline_guard.py"
SOURCE_DIRS = (ROOT / "alignmenter_edge", ROOT / "export")
HEAVY = ("torch", "transformers", "huggingface_hub", "peft", "requests", "urllib3", "httpx", "aiohttp")
BUNDLE_FIXTURES = ("tiny_roberta_bundle", "tiny_roberta_bundle_fp32", "tiny_constitutional_bundle")




USE_EVERY_PATH = r"""
import json, sys
target, workdir = sys.argv[1], sys.argv[2]
from alignmenter_edge import load_classifier
from alignmenter_edge.alignmenter import EdgeSafetyScorer, load_safety_classifier
from alignmenter_edge.cli import main

texts = ["How do I install Python?", "I will attack them with violence", "", "   ",
         "word " * 3000 + "hate", "nul\x00 and \x1b controls"]
with load_classifier(target) as clf:
    scores = clf.score_batch(texts)
    tier = clf.info.tier
fn = load_safety_classifier(target)
fn("hello")
edge = EdgeSafetyScorer(target).score([{"session_id": "s", "turns": [
    {"role": "assistant", "turn_index": 1, "text": t} for t in texts]}])
with open(workdir + "/in.jsonl", "w") as f:
    for t in texts:
        f.write(json.dumps({"text": t}) + "\n")
rc = main(["score", workdir + "/in.jsonl", "-o", workdir + "/out.jsonl", "--model", target,
           "--no-progress"])
heavy = sorted(m for m in HEAVY if m in sys.modules)
print(json.dumps({"tier": tier, "scores": scores, "rc": rc, "edge_turns": edge["turns"], "heavy": heavy}))
""".replace("HEAVY", repr(HEAVY))


def run_guarded(tmp_path: Path, code: str, *args: str, allow_sockets: bool = False) -> tuple[dict, str]:
    log = tmp_path / "guard.log"
    log.write_text("")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "TRANSFORMERS_", "HUGGINGFACE_"))}
    env.update(PYTHONPATH=str(ROOT), ALIGNMENTER_EDGE_HOME=str(tmp_path / "home"),
               OFFLINE_GUARD_ALLOW_SOCKETS="1" if allow_sockets else "0")
    proc = subprocess.run([sys.executable, str(GUARD), str(log), "-c", code, *args], env=env,
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return (json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}), log.read_text()


def _check_guarded_use(tmp_path: Path, target: str) -> dict:
    result, attempts = run_guarded(tmp_path, USE_EVERY_PATH, target, str(tmp_path))
    assert attempts == "", f"{target} tried the network or unpickled:\n{attempts}"
    assert result["rc"] == 0 and result["edge_turns"] == 5
    assert result["heavy"] == [], f"{target} imported {result['heavy']}"
    assert len(result["scores"]) == 6
    return result


@pytest.mark.parametrize("tier", [t for t in TIERS if not TIERS[t].needs_bundle] + ["auto"])
def test_network_blocked_stdlib_tiers(tmp_path, tier):
    result = _check_guarded_use(tmp_path, tier)
    assert result["tier"] == (tier if tier != "auto" else "lexicon")  # an empty data home: the strongest stdlib tier


@pytest.mark.parametrize("fixture", BUNDLE_FIXTURES)
def test_network_blocked_model_tiers(request, tmp_path, fixture):
    bundle = request.getfixturevalue(fixture)
    result = _check_guarded_use(tmp_path, str(bundle))
    assert result["tier"] in ("roberta-onnx", "constitutional-gguf")
    assert all(0.0 <= s <= 1.0 for s in result["scores"])


def test_guard_catches_a_connection(tmp_path):
    """The guard itself works: a connection attempt is refused and recorded."""
    code = ("import socket\n"
            "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\nexcept OSError:\n    pass\n"
            "import pickle\n"
            "try:\n    pickle.loads(pickle.dumps(OSError('x')))\nexcept OSError:\n    pass\n")
    _, attempts = run_guarded(tmp_path, code)
    assert "create_connection" in attempts and "pickle.find_class" in attempts


# --- no pickle deserialisation ----------------------------------------------------------------

FORBIDDEN = [
    (re.compile(r"^\s*(import|from)\s+(c?pickle|_pickle|dill|cloudpickle|joblib|shelve)\b", re.M), "pickle module"),
    (re.compile(r"\b(c?pickle|dill|cloudpickle|joblib)\.loads?\s*\("), "unpickling call"),
    (re.compile(r"\btorch\.load\s*\("), "torch.load (pickle)"),
    (re.compile(r"allow_pickle\s*=\s*True"), "numpy allow_pickle"),
    (re.compile(r"\b(np|numpy)\.load\s*\("), "numpy.load (may unpickle)"),
    (re.compile(r"\bmarshal\.loads?\s*\("), "marshal"),
    (re.compile(r"weights_only\s*=\s*False"), "torch weights_only=False"),
]


def _sources() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in d.rglob("*.py"))


def test_no_pickle_loaders_in_source():
    found = [f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}: {what}"
             for path in _sources() for text in [path.read_text(encoding="utf-8")]
             for pattern, what in FORBIDDEN for m in pattern.finditer(text)]
    assert found == []


def test_scan_would_catch_pickle():
    sample = "import pickle\nstate = torch.load(path)\nnp.load(f, allow_pickle=True)\n"
    assert {what for pattern, what in FORBIDDEN if pattern.search(sample)} >= {
        "pickle module", "torch.load (pickle)", "numpy allow_pickle"}


def _model_loads(tree: ast.AST) -> list[ast.Call]:
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "from_pretrained":
            owner = ast.unparse(node.func.value)
            if "Tokenizer" not in owner and "Config" not in owner:
                calls.append(node)
    return calls


def test_export_model_loads_refuse_pickle_weights():
    """transformers falls back to pytorch_model.bin (torch.load, a pickle) when a model has no
    safetensors, and PEFT to adapter_model.bin. Every model load in export/ must pass
    ``use_safetensors=True``; a PeftModel load must be preceded by a check for
    adapter_model.safetensors in the same module."""
    problems = []
    for path in sorted((ROOT / "export").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for call in _model_loads(ast.parse(text)):
            owner = ast.unparse(call.func.value)
            where = f"{path.relative_to(ROOT)}:{call.lineno} {owner}.from_pretrained"
            if "Peft" in owner:
                if "adapter_model.safetensors" not in text and "SAFETENSORS_WEIGHTS_NAME" not in text:
                    problems.append(f"{where}: no adapter_model.safetensors check")
                continue
            flags = {kw.arg: ast.unparse(kw.value) for kw in call.keywords}
            if flags.get("use_safetensors") != "True":
                problems.append(f"{where}: without use_safetensors=True")
    assert problems == []


PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
BUNDLE_SUFFIXES = {".onnx", ".gguf", ".json", ".md", ".txt", ".data"}


@pytest.mark.parametrize("fixture", BUNDLE_FIXTURES)
def test_bundle_files_hold_no_pickle(request, fixture):
    bundle = request.getfixturevalue(fixture)
    files = json.loads((bundle / "manifest.json").read_text())["files"]
    assert files
    for name in files:
        path = bundle / name
        assert path.suffix in BUNDLE_SUFFIXES, f"{name}: unexpected artifact type"
        head = path.read_bytes()[:4]
        assert not head.startswith(PICKLE_MAGIC), f"{name} is a pickle"
        if zipfile.is_zipfile(path):
            assert not [n for n in zipfile.ZipFile(path).namelist() if n.endswith((".pkl", "data.pkl"))]
    if any(name.endswith(".gguf") for name in files):
        assert any((bundle / n).read_bytes()[:4] == b"GGUF" for n in files if n.endswith(".gguf"))


EXPORT_ROBERTA = r"""
import sys
from alignmenter_edge.export.roberta import export_roberta
export_roberta(sys.argv[1], sys.argv[2], quantize="int8", model_id="guarded")
"""


@pytest.mark.slow
def test_roberta_export_from_local_dir_is_offline_and_pickle_free(request, tmp_path):
    source = request.getfixturevalue("tiny_roberta_source")
    _, attempts = run_guarded(tmp_path, EXPORT_ROBERTA, str(source), str(tmp_path / "out"),
                              allow_sockets=True)
    assert attempts == ""
    assert (tmp_path / "out" / "manifest.json").is_file()
