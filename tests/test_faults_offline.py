"""Two rows of the fault matrix that hold for every tier: nothing touches the network, nothing is
unpickled.

Every available tier is loaded and used (API, alignmenter drop-in, ``score`` CLI) in a subprocess
run by tests/data/offline_guard.py: an audit hook refuses and records every socket connection, DNS
look-up and pickle global lookup made from Python, ``socket.socket`` /
``socket.create_connection`` raise, and so do the unpickling functions of ``pickle`` and
``_pickle`` (a pickle of plain data looks up no global). The source of the runtime and the export
stage is also scanned for pickle-based loaders (imported by statement, ``__import__`` or
``importlib.import_module``), and the files of exported bundles are checked for pickle data.
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


UNPICKLE_ATTEMPTS = {  # each unpickling route, with the guard's record of it
    "pickle.loads(pickle.dumps({'plain': [1, 'data']}))": "pickle.loads()",
    "__import__('pickle').loads(__import__('pickle').dumps({'plain': 1}))": "pickle.loads()",
    "pickle.load(io.BytesIO(pickle.dumps([1, 2])))": "pickle.load()",
    "pickle.Unpickler(io.BytesIO(pickle.dumps('x'))).load()": "pickle.Unpickler()",
    "importlib.import_module('_pickle').loads(pickle.dumps(1.5))": "_pickle.loads()",
    "pickle._loads(pickle.dumps(None))": "pickle._loads()",
    "pickle.loads(pickle.dumps(OSError('x')))": "pickle.loads()",
    # the original class, held before the guard was installed: the audit hook still sees its global
    "pickle.Unpickler.__mro__[1](io.BytesIO(pickle.dumps(OSError('x')))).load()": "pickle.find_class",
}


def _attempt(statement: str) -> str:
    return f"try:\n    {statement}\nexcept OSError:\n    pass\n"


def test_guard_catches_a_connection(tmp_path):
    """The guard itself works: a connection attempt is refused and recorded."""
    code = "import socket\n" + _attempt("socket.create_connection(('127.0.0.1', 9), timeout=1)")
    _, attempts = run_guarded(tmp_path, code)
    assert "socket.create_connection" in attempts


@pytest.mark.parametrize("statement", UNPICKLE_ATTEMPTS)
def test_guard_catches_unpickling_of_plain_data(tmp_path, statement):
    """Every route is refused and recorded, also for data whose pickle names no global (the
    audit hook's pickle.find_class never fires for it)."""
    code = "import importlib, io, pickle\n" + _attempt(statement) + "print('{\"went_on\": 1}')\n"
    result, attempts = run_guarded(tmp_path, code)
    assert UNPICKLE_ATTEMPTS[statement] in attempts.splitlines()[0] and result == {"went_on": 1}


def test_guarded_classes_can_still_be_subclassed(tmp_path):
    """A library may subclass pickle.Unpickler at import; only using the subclass is refused."""
    code = ("import pickle, io\nclass Mine(pickle.Unpickler):\n    pass\n"
            + _attempt("Mine(io.BytesIO(b'')).load()"))
    _, attempts = run_guarded(tmp_path, code)
    assert attempts.splitlines() == ["pickle.Unpickler()"]


# --- no pickle deserialisation ----------------------------------------------------------------

PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
FORBIDDEN = [
    (re.compile(r"\b(c?pickle|dill|cloudpickle|joblib)\.loads?\s*\("), "unpickling call"),
    (re.compile(r"\btorch\.load\s*\("), "torch.load (pickle)"),
    (re.compile(r"allow_pickle\s*=\s*True"), "numpy allow_pickle"),
    (re.compile(r"\b(np|numpy)\.load\s*\("), "numpy.load (may unpickle)"),
    (re.compile(r"\bmarshal\.loads?\s*\("), "marshal"),
    (re.compile(r"weights_only\s*=\s*False"), "torch weights_only=False"),
]


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level module) for every import statement, ``__import__("m")`` and
    ``importlib.import_module("m")`` / ``import_module("m")`` with a literal name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) \
                and ast.unparse(node.func) in ("__import__", "importlib.import_module", "import_module"):
            found.append((node.lineno, node.args[0].value))
    return [(line, name.split(".")[0]) for line, name in found]


def forbidden_in(text: str) -> list[str]:
    """'LINE: what' for every pickle-based loader in the Python source ``text``."""
    found = [f"{line}: pickle module {name}" for line, name in _imported_modules(ast.parse(text))
             if name in PICKLE_MODULES]
    found += [f"{text[:m.start()].count(chr(10)) + 1}: {what}"
              for pattern, what in FORBIDDEN for m in pattern.finditer(text)]
    return found


def _sources() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in d.rglob("*.py"))


def test_no_pickle_loaders_in_source():
    found = [f"{path.relative_to(ROOT)}:{problem}" for path in _sources()
             for problem in forbidden_in(path.read_text(encoding="utf-8"))]
    assert found == []


@pytest.mark.parametrize("sample, expected", [
    ("import pickle\n", "1: pickle module pickle"),
    ("import os, json as j, dill\n", "1: pickle module dill"),
    ("from joblib import load\n", "1: pickle module joblib"),
    ("def f():\n    import shelve.x\n", "2: pickle module shelve"),
    ("x = __import__('pickle').loads(b'')\n", "1: pickle module pickle"),
    ("x = __import__(\"_pickle\")\n", "1: pickle module _pickle"),
    ("import importlib\nm = importlib.import_module('marshal')\n", "2: pickle module marshal"),
    ("from importlib import import_module\nm = import_module('cPickle')\n", "2: pickle module cPickle"),
    ("state = torch.load(path)\n", "1: torch.load (pickle)"),
    ("a = np.load(f, allow_pickle=True)\n", "1: numpy allow_pickle"),
])
def test_scan_would_catch_pickle(sample, expected):
    assert expected in forbidden_in(sample)


def test_scan_passes_modules_that_only_sound_alike():
    assert forbidden_in("import pickletools_x\nimport importlib\nimportlib.import_module(name)\n"
                        "from . import pickle\n") == []


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
