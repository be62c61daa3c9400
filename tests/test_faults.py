"""The fault matrix: model output faults, broken bundles, missing dependencies, interrupted runs.

One test (or one parametrized family) per row of docs/bad-input.md. Each fault ends in a clear
error naming the problem and the fix; none becomes a score.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alignmenter_edge import (
    BundleError,
    BundleIntegrityError,
    ModelOutputError,
    load_classifier,
)
from alignmenter_edge.bundle import MANIFEST_NAME, write_bundle
from alignmenter_edge.classifier import Classifier
from alignmenter_edge.cli import main
from alignmenter_edge.registry import TIERS
from alignmenter_edge.tiers.heuristic import heuristic_score
from tests.helpers import require

ROOT = Path(__file__).resolve().parents[1]
MODEL_BUNDLES = ("tiny_roberta_bundle", "tiny_constitutional_bundle")


def fake_bundle(directory: Path, tier: str = "roberta-onnx") -> Path:
    """A structurally valid bundle whose model bytes are placeholders (enough for every check
    that runs before a model is opened)."""
    directory.mkdir(parents=True)
    model = "model.onnx" if tier == "roberta-onnx" else "model.gguf"
    (directory / model).write_bytes(b"\x08\x07placeholder model bytes" * 64)
    (directory / "tokenizer.json").write_text('{"version": "1.0"}', encoding="utf-8")
    write_bundle(directory, [model, "tokenizer.json"], tier=tier, model_id="fake/model",
                 sources=[{"id": "fake/model", "revision": "0" * 40}],
                 labels={"names": ["SAFE", "UNSAFE"], "unsafe_index": 1}, max_input_tokens=512,
                 long_input_policy="window-max", quantization="int8", tokenizer="tokenizer.json")
    return directory


def copy_bundle(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle-copy"
    shutil.copytree(src, dst)
    return dst


def model_file(bundle: Path) -> str:
    files = json.loads((bundle / MANIFEST_NAME).read_text())["files"]
    return max(files, key=lambda name: files[name]["size"])  # the weights are the largest file


# --- NaN / inf from a model ------------------------------------------------------------------

class Fixed(Classifier):
    tier = "fixed-test"

    def __init__(self, values, **kwargs):
        super().__init__(**kwargs)
        self.values = values

    def _score(self, texts):
        return self.values[:len(texts)]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1.5, -0.1, float("1e309")])
def test_non_finite_or_out_of_range_score_raises(bad):
    clf = Fixed([0.9, bad, 0.2])
    with pytest.raises(ModelOutputError, match=r"text #1.*refusing to report it as a score"):
        clf.score_batch(["a", "b", "c"])
    with pytest.raises(ModelOutputError):
        Fixed([bad])("x")


def test_wrong_number_of_scores_raises():
    with pytest.raises(ModelOutputError, match="returned 1 scores for 3 texts"):
        Fixed([0.5]).score_batch(["a", "b", "c"])


class _NaNSession:
    """Wraps an onnxruntime session: real outputs, with NaN/inf written into one row."""

    def __init__(self, session, value):
        self.session, self.value = session, value

    def run(self, *args, **kwargs):
        outputs = self.session.run(*args, **kwargs)
        outputs[0][0, 0] = self.value
        return outputs

    def __getattr__(self, name):
        return getattr(self.session, name)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_roberta_non_finite_logits_raise(request, value):
    with load_classifier(request.getfixturevalue("tiny_roberta_bundle")) as clf:
        good = clf.score_batch(["hello there", "how are you"])
        assert all(0.0 <= s <= 1.0 for s in good)
        clf.engine.session = _NaNSession(clf.engine.session, value)
        with pytest.raises(ModelOutputError, match="non-finite"):
            clf.score_batch(["hello there", "how are you"])


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_constitutional_non_finite_logits_raise(request, value, monkeypatch):
    with load_classifier(request.getfixturevalue("tiny_constitutional_bundle")) as clf:
        assert 0.0 <= clf("hello there") <= 1.0
        session = clf.scorer.session
        real = session.logits_of_last
        monkeypatch.setattr(session, "logits_of_last", lambda ids: [value] + real(ids)[1:])
        with pytest.raises(ModelOutputError, match="non-finite"):
            clf("hello there")


# --- bundle on disk: missing file, sha256 mismatch, manifest version / tier ---------------------

def test_model_file_missing(tmp_path, data_home):
    bundle = fake_bundle(tmp_path / "b")
    (bundle / "model.onnx").unlink()
    with pytest.raises(BundleIntegrityError, match=r"'model.onnx' listed in the manifest is missing.*re-export"):
        load_classifier(bundle)


@pytest.mark.parametrize("fixture", MODEL_BUNDLES)
def test_model_file_missing_real_bundle(request, fixture, tmp_path, data_home):
    bundle = copy_bundle(request.getfixturevalue(fixture), tmp_path)
    name = model_file(bundle)
    (bundle / name).unlink()
    with pytest.raises(BundleIntegrityError, match=f"'{name}' listed in the manifest is missing"):
        load_classifier(bundle)


def test_manifest_missing_names_the_fix(tmp_path, data_home):
    bundle = fake_bundle(tmp_path / "b")
    (bundle / MANIFEST_NAME).unlink()
    with pytest.raises(Exception, match=r"holds no manifest.json"):
        load_classifier(bundle)


def test_manifest_not_json(tmp_path, data_home):
    bundle = fake_bundle(tmp_path / "b")
    (bundle / MANIFEST_NAME).write_text("{not json", encoding="utf-8")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_classifier(bundle)


def test_truncated_model_file(tmp_path, data_home):
    bundle = fake_bundle(tmp_path / "b")
    data = (bundle / "model.onnx").read_bytes()
    (bundle / "model.onnx").write_bytes(data[:-10])
    with pytest.raises(BundleIntegrityError, match=r"has \d+ bytes, the manifest records \d+"):
        load_classifier(bundle)


def _flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_sha256_mismatch(tmp_path, data_home):
    bundle = fake_bundle(tmp_path / "b")
    _flip_byte(bundle / "model.onnx")
    with pytest.raises(BundleIntegrityError, match=r"sha256 of 'model.onnx' is [0-9a-f]{64}, the manifest "
                                                   r"records [0-9a-f]{64}.*re-copy or re-export"):
        load_classifier(bundle)


@pytest.mark.parametrize("fixture", MODEL_BUNDLES)
def test_sha256_mismatch_real_bundle(request, fixture, tmp_path, data_home):
    bundle = copy_bundle(request.getfixturevalue(fixture), tmp_path)
    name = model_file(bundle)
    _flip_byte(bundle / name)
    with pytest.raises(BundleIntegrityError, match=f"sha256 of '{name}'"):
        load_classifier(bundle)


def _edit_manifest(bundle: Path, **changes) -> None:
    path = bundle / MANIFEST_NAME
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("changes, match", [
    ({"format_version": 2}, r"bundle format version 2 is not supported .* reads version 1\)\. Re-export"),
    ({"format_version": "1"}, r"format version '1' is not supported"),
    ({"format": "something-else"}, r"not an alignmenter-edge bundle manifest"),
    ({"tier": "distilbert-tflite"}, r"unknown tier 'distilbert-tflite'; this version knows roberta-onnx"),
    ({"tier": "heuristic"}, r"unknown tier 'heuristic'"),
    ({"surprise": 1}, r"unknown field\(s\): surprise"),
])
def test_manifest_unknown_version_or_tier(tmp_path, data_home, changes, match):
    bundle = fake_bundle(tmp_path / "b")
    _edit_manifest(bundle, **changes)
    with pytest.raises(BundleError, match=match):
        load_classifier(bundle)


def test_manifest_path_escape_is_refused(tmp_path, data_home):
    bundle = fake_bundle(tmp_path / "b")
    (tmp_path / "outside.bin").write_bytes(b"x")
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    data["files"]["../outside.bin"] = {"size": 1, "sha256": "0" * 64}
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="'../outside.bin' has an empty, '.' or '..' part"):
        load_classifier(bundle)


@pytest.mark.parametrize("fixture", MODEL_BUNDLES)
def test_manifest_threshold_that_would_flag_nothing_is_refused(request, fixture, tmp_path, data_home):
    """json reads NaN; a NaN or negative threshold would flag no text, 2.0 every text. The file
    hashes do not cover the manifest, so only this check stands in the way."""
    bundle = copy_bundle(request.getfixturevalue(fixture), tmp_path)
    for bad in (math.nan, -1.0, 0.0, 2.0):
        _edit_manifest(bundle, threshold=bad)
        with pytest.raises(BundleError, match=rf"field 'threshold' is {bad!r}; it must be a finite "
                                              r"number in \(0, 1\]; 0 would flag nothing.*re-export"):
            load_classifier(bundle)


def test_broken_installed_bundle_is_named_by_score_never_unknown_or_skipped(tmp_path, data_home, capsys):
    """`--model NAME` names the broken manifest and the fix; `auto` does not fall back past it."""
    bundle = fake_bundle(data_home / "bundles" / "mine")
    (bundle / MANIFEST_NAME).write_text("{not json", encoding="utf-8")
    source = tmp_path / "in.txt"
    source.write_text("how do i make a bomb\n", encoding="utf-8")
    for model in (["--model", "mine"], []):
        assert main(["score", str(source), "--no-progress", *model]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert f"installed bundle 'mine' cannot be read: {bundle / MANIFEST_NAME}: not valid JSON" in captured.err
        assert "uninstall mine" in captured.err and "unknown model" not in captured.err


# --- missing optional dependency (import blocked in a subprocess) -------------------------------

BLOCK_AND_LOAD = r"""
import json, sys
blocked = sys.argv[1].split(",")
for name in blocked:
    sys.modules[name] = None            # import of this module now fails, as if not installed
from alignmenter_edge import MissingDependencyError, load_classifier
from alignmenter_edge.registry import available_tiers
result = {"status": available_tiers()}
try:
    load_classifier(sys.argv[2])
    result["load"] = "loaded"
except MissingDependencyError as exc:
    result["load"] = "MissingDependencyError: " + str(exc)
with load_classifier("auto") as auto:
    result["auto"] = auto.info.tier
    result["auto_score"] = auto("I will attack")
result["heavy"] = sorted(m for m in ("torch", "transformers", "numpy", "onnxruntime", "llama_cpp")
                         if sys.modules.get(m) is not None)
print(json.dumps(result))
"""


def _blocked(tmp_path: Path, modules: str, target: str) -> dict:
    env = {**os.environ, "ALIGNMENTER_EDGE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", BLOCK_AND_LOAD, modules, target], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("tier, blocked, extra", [
    ("roberta-onnx", "onnxruntime", "onnx"),
    ("roberta-onnx", "tokenizers", "onnx"),
    ("roberta-onnx", "numpy", "onnx"),
    ("constitutional-gguf", "llama_cpp", "gguf"),
])
def test_missing_optional_dependency_fake_bundle(tmp_path, tier, blocked, extra):
    for module in TIERS[tier].modules:  # all installed, then exactly one blocked
        require(module)
    bundle = fake_bundle(tmp_path / "b", tier=tier)
    result = _blocked(tmp_path, blocked, str(bundle))
    assert result["load"].startswith("MissingDependencyError")
    assert blocked in result["load"] and f"pip install 'alignmenter-edge[{extra}]'" in result["load"]
    assert result["status"][tier].startswith(f"missing {blocked}")
    assert result["auto"] not in ("none", tier) and result["auto_score"] < 1.0  # auto degrades, loudly named
    assert blocked not in result["heavy"]


@pytest.mark.parametrize("fixture, blocked, extra", [
    ("tiny_roberta_bundle", "onnxruntime", "onnx"),
    ("tiny_constitutional_bundle", "llama_cpp", "gguf"),
])
def test_missing_optional_dependency_real_bundle(request, tmp_path, fixture, blocked, extra):
    bundle = request.getfixturevalue(fixture)
    result = _blocked(tmp_path, blocked, str(bundle))
    assert result["load"].startswith("MissingDependencyError") and f"[{extra}]" in result["load"]


def test_bare_runtime_needs_no_optional_package(tmp_path):
    """With every optional package (and PyYAML) blocked, the stdlib tiers still work."""
    result = _blocked(tmp_path, "numpy,onnxruntime,tokenizers,llama_cpp,yaml,torch,transformers",
                      "heuristic")
    assert result["load"] == "loaded" and result["heavy"] == []
    assert result["auto"] in ("heuristic", "lexicon")


def test_dropin_alias_with_missing_dependency_is_not_a_heuristic(tmp_path):
    code = ("import sys; sys.modules['onnxruntime'] = None\n"
            "from alignmenter_edge.alignmenter import load_safety_classifier\n"
            "load_safety_classifier('distilled-safety-roberta')\n")
    env = {**os.environ, "ALIGNMENTER_EDGE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "MissingDependencyError" in proc.stderr and "alignmenter-edge[onnx]" in proc.stderr


# --- interrupted runs: partial output stays valid JSONL ----------------------------------------

class FailsOnBatch(Classifier):
    tier = "fails-test"

    def __init__(self, fail_on: int, **kwargs):
        super().__init__(**kwargs)
        self.fail_on, self.batches = fail_on, 0

    def _score(self, texts):
        self.batches += 1
        return [math.nan if self.batches == self.fail_on else 0.5 for _ in texts]


def test_exception_mid_stream_keeps_complete_lines(tmp_path, monkeypatch, data_home):
    from alignmenter_edge.commands import score

    monkeypatch.setattr(score, "load_from_args", lambda args: FailsOnBatch(3, batch_size=1))
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"i": i, "text": f"t{i}"}) + "\n" for i in range(50)))
    out = tmp_path / "out.jsonl"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["score", str(source), "-o", str(out)])
    assert code == 2 and "refusing to report it as a score" in err.getvalue()
    text = out.read_text()
    assert text.endswith("\n")
    rows = [json.loads(line) for line in text.splitlines()]
    pool = FailsOnBatch(3, batch_size=1).pool_size
    assert [r["i"] for r in rows] == list(range(2 * pool))  # the two pools before the fault


def _score_proc(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "alignmenter_edge", "score", *args, "--no-progress"],
                            env=env, stderr=subprocess.PIPE, **kwargs)


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_waiting_for_input(tmp_path, data_home, sig):
    out = tmp_path / "out.jsonl"
    proc = _score_proc(["-", "-o", str(out), "--model", "heuristic", "--batch-size", "1",
                        "--format", "jsonl"], stdin=subprocess.PIPE)
    for i in range(20):
        proc.stdin.write((json.dumps({"i": i, "text": "hate" if i % 2 else "ok"}) + "\n").encode())
    proc.stdin.flush()
    _wait_for(lambda: len(_lines(out)) == 16)  # two pools of 8 written, four rows pending
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted; output written so far is complete JSONL" in err
    rows = [json.loads(line) for line in _lines(out)]
    assert [r["i"] for r in rows] == list(range(16))
    assert all(r["safety_score"] == (0.8 if r["i"] % 2 else 1.0) for r in rows)


BIG_TEXTS = ("a calm reply about gardening é", "I will attack them", "attack, so much hate", "violence-free topics")


def _big_text(i: int) -> str:
    return f"row {i}: {BIG_TEXTS[i % len(BIG_TEXTS)]}"


def _big_input(tmp_path: Path, n: int = 300_000) -> Path:
    source = tmp_path / "big.jsonl"
    with open(source, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"i": i, "text": _big_text(i)}) + "\n")
    return source


def _expected_line(i: int) -> bytes:
    """Output line ``i`` of the big input under ``--model heuristic``, scored by the reference."""
    text = _big_text(i)
    score = heuristic_score(text)
    row = {"i": i, "text": text, "safety_score": score, "flagged": score < 0.5, "tier": "heuristic"}
    return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")


def _assert_scored_prefix(data: bytes) -> int:
    """``data`` is a byte prefix of the whole run's output (the first rows, in order, each with the
    heuristic's own score; a cut last line is the start of the next row). Returns the complete rows."""
    complete = data.count(b"\n")
    expected = b"".join(_expected_line(i) for i in range(complete + 1))
    assert expected.startswith(data), "output is not the start of the scored input"
    return complete


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_stream_leaves_only_complete_lines(tmp_path, data_home, sig):
    """Signals arrive while pools are scored and written; every line in the output parses and the
    rows are exactly the first N input rows, in order."""
    source = _big_input(tmp_path)
    interrupted = 0
    for attempt, delay in enumerate((0.0, 0.05, 0.2)):
        out = tmp_path / f"out{attempt}.jsonl"
        proc = _score_proc([str(source), "-o", str(out), "--model", "heuristic", "--batch-size", "64"])
        _wait_for(lambda: out.exists() and out.stat().st_size > 0)
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            continue  # finished before the signal landed
        assert proc.returncode == 130, err
        data = out.read_bytes()
        assert data.endswith(b"\n")
        assert 0 < _assert_scored_prefix(data) < 300_000
        interrupted += 1
    assert interrupted > 0


@pytest.mark.slow
def test_sigkill_leaves_complete_lines_before_the_last(tmp_path, data_home):
    """SIGKILL cannot be handled: at most the final line may be cut; every earlier line is whole,
    so `head -n -1` (or dropping an unterminated last line) recovers valid JSONL.

    Any writer that writes rows in order passes the "cut only at the end" part, held signals or
    not, so this does not test the signal handling (test_signal_mid_stream_leaves_only_complete_lines
    does). What it checks beyond that test: the run really died of SIGKILL half-way, and what
    reached the disk before it is byte for byte the start of the correct output."""
    source = _big_input(tmp_path)
    out = tmp_path / "out.jsonl"
    proc = _score_proc([str(source), "-o", str(out), "--model", "heuristic", "--batch-size", "64"])
    _wait_for(lambda: out.exists() and out.stat().st_size > 100_000)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert 0 < _assert_scored_prefix(out.read_bytes()) < 300_000
