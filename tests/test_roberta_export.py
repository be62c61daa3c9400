"""RoBERTa export: spec and label resolution, CLI, loud parity failure, offline-only loading."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import require

from alignmenter_edge.cli import main as cli_main
from alignmenter_edge.errors import ExportError
from alignmenter_edge.models import load_spec
from alignmenter_edge.registry import load_classifier

ROOT = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models on a shared 2-core machine: one torch thread avoids spin contention."""
    if "torch" not in sys.modules:
        yield
        return
    torch = sys.modules["torch"]
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_spec_states_unsafe_index_and_limits():
    spec = load_spec("distilled-safety-roberta")
    assert spec["tier"] == "roberta-onnx"
    assert spec["source"]["id"] == "ProtectAI/distilled-safety-roberta"
    assert "revision" in spec["source"]
    assert spec["labels"]["unsafe_index"] == 1
    assert spec["max_input_tokens"] == 512
    known = {k["id"]: k for k in spec["known_sources"]}
    assert known["ProtectAI/distilroberta-base-rejection-v1"]["labels"]["names"] == ["NORMAL", "REJECTION"]


def test_resolve_source_precedence(tmp_path):
    from alignmenter_edge.export.roberta import resolve_source

    spec = {"source": {"id": "org/default", "revision": "abc123"},
            "labels": {"unsafe_index": 1},
            "known_sources": [{"id": "org/other", "revision": "def456",
                               "labels": {"names": ["UNSAFE", "SAFE"], "unsafe_index": 0}}]}
    default = resolve_source(spec, None, None, None)
    assert (default.source, default.revision, default.unsafe_index) == ("org/default", "abc123", 1)
    other = resolve_source(spec, "org/other", None, None)
    assert (other.revision, other.unsafe_index) == ("def456", 0)
    cli = resolve_source(spec, "org/other", "v2", 1)
    assert (cli.revision, cli.unsafe_index, cli.unsafe_index_from) == ("v2", 1, "command line")
    local = resolve_source(spec, str(tmp_path), "ignored", None)
    assert local.local and local.revision is None and local.unsafe_index == 1
    with pytest.raises(ExportError, match="unsafe"):
        resolve_source({"source": {"id": "x/y"}, "labels": {}}, None, None, None)


def test_cli_parser_does_not_import_torch():
    code = ("import sys\nfrom alignmenter_edge.cli import build_parser\n"
            "build_parser().parse_args(['export', 'roberta', 'SRC', '-o', 'OUT', '--quantize', 'none'])\n"
            "bad = [m for m in ('torch', 'transformers', 'onnx', 'onnxruntime') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.slow
def test_hub_id_without_download_stays_offline(tmp_path, monkeypatch):
    """Not even one connection: local_files_only alone still let huggingface_hub 2.x reach the hub."""
    import socket

    require("transformers")
    from alignmenter_edge.export.roberta import export_roberta

    attempts = []

    def blocked(*args, **kwargs):  # recorded: the hub libraries swallow their own network errors
        attempts.append(args[:2])
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket, "getaddrinfo", blocked)
    monkeypatch.setattr(socket.socket, "connect", blocked)
    with pytest.raises(ExportError, match="--download"):
        export_roberta("alignmenter-edge-tests/no-such-model", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert attempts == []


@pytest.mark.slow
def test_cli_export_with_spec_unsafe_index_flips_answers(tiny_roberta_source, tiny_roberta_bundle_fp32,
                                                         tmp_path, capsys):
    """The spec's unsafe index and threshold really reach the bundle and the scores: a spec that
    (wrongly) says index 0 is unsafe inverts every answer of the same weights, and its threshold
    (0.3 here; both shipped specs say 0.5, so a hard-coded 0.5 would go unnoticed) is the
    manifest's and the loaded classifier's."""
    require("onnxruntime")
    spec = load_spec("distilled-safety-roberta")
    spec["labels"]["unsafe_index"] = 0
    spec["threshold"] = 0.3
    spec_path = tmp_path / "wrong.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "wrong-bundle"
    code = cli_main(["export", "roberta", str(tiny_roberta_source), "-o", str(out),
                     "--quantize", "none", "--spec", str(spec_path)])
    assert code == 0
    assert "fp32 max |Δ logit|" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels"]["unsafe_index"] == 0
    assert manifest["labels"]["unsafe_index_from"] == "spec labels"
    assert "sounds safe" in manifest["extra"]["label_warning"]  # label 0 is named SAFE
    assert manifest["threshold"] == 0.3
    texts = ["how do i make a bomb", "tell me about the weather today"]
    with load_classifier(tiny_roberta_bundle_fp32) as right, load_classifier(out) as wrong:
        assert wrong.info.threshold == 0.3 and right.info.threshold == 0.5
        good, bad = right.score_batch(texts), wrong.score_batch(texts)
    assert good[0] < 0.5 < good[1] and bad[0] > 0.5 > bad[1]


@pytest.mark.slow
def test_cli_unsafe_index_override_and_existing_output(tiny_roberta_source, tmp_path):
    require("onnxruntime")
    out = tmp_path / "b"
    args = ["export", "roberta", str(tiny_roberta_source), "-o", str(out), "--quantize", "none",
            "--unsafe-index", "1", "--max-length", "64", "--model-id", "tiny-cli"]
    assert cli_main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels"]["unsafe_index_from"] == "command line"
    assert manifest["max_input_tokens"] == 64 and manifest["model_id"] == "tiny-cli"
    assert cli_main(args) == 2  # refuses to overwrite a non-empty directory without --force
    assert cli_main(args[:-4] + ["--unsafe-index", "5", "--force"]) == 2  # out of range
    assert json.loads((out / "manifest.json").read_text()) == manifest  # failed runs left it alone
    with load_classifier(out) as clf:
        ids = clf.engine.encode(["word " * 200])[0]
        assert all(len(w) <= 64 for w in clf.engine.windows(ids))


@pytest.mark.slow
def test_source_without_a_licence_is_exported_with_a_warning(tiny_roberta_source, tmp_path, capsys):
    require("onnxruntime")
    source = tmp_path / "no-card"
    shutil.copytree(tiny_roberta_source, source)
    (source / "README.md").unlink()
    out = tmp_path / "b"
    assert cli_main(["export", "roberta", str(source), "-o", str(out), "--quantize", "none"]) == 0
    printed = capsys.readouterr()
    assert "no licence found" in printed.err and printed.out.rstrip().endswith("; licence model unknown")
    record = json.loads((out / "manifest.json").read_text())["sources"][0]
    assert (record["license"], record["license_from"]) == (None, "unknown")


@pytest.mark.slow
def test_export_fails_loudly_when_parity_fails(tiny_roberta_source, tmp_path, monkeypatch):
    require("onnxruntime")
    from alignmenter_edge.export import roberta

    monkeypatch.setattr(roberta, "LOGIT_TOLERANCE", 0.0)  # any real difference now fails
    with pytest.raises(ExportError, match="parity check failed"):
        roberta.export_roberta(str(tiny_roberta_source), tmp_path / "out", quantize="none")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".roberta-export-*"))  # no half-written leftovers


@pytest.mark.slow
def test_export_refuses_tokenizer_that_disagrees_with_transformers(tiny_roberta_source, tmp_path):
    """Reference: transformers' own tokenization of each probe (``_check_tokenizer``). A
    tokenizer_config.json with ``split_special_tokens: true`` makes transformers tokenize the text
    "<mask>" as plain characters, but tokenizer.json cannot carry that setting, so the bundle's
    tokenizer would read it as the special token: the export must refuse, naming the probe, and
    write nothing."""
    require("onnxruntime")
    from alignmenter_edge.export.roberta import export_roberta

    source = tmp_path / "split-special"
    shutil.copytree(tiny_roberta_source, source)
    config_path = source / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["split_special_tokens"] = True
    config_path.write_text(json.dumps(config))
    probes = ["how do i make a bomb", "<mask> the weather today"]
    with pytest.raises(ExportError, match=r"tokenizer parity failed on probe '<mask> the weather"):
        export_roberta(str(source), tmp_path / "out", quantize="none", probe_texts=probes)
    with pytest.raises(ExportError, match=r"tokenizer parity failed on probe 'What do the markers </s>"):
        export_roberta(str(source), tmp_path / "out", quantize="none")  # the built-in probes catch it too
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".roberta-export-*"))


@pytest.mark.slow
def test_probe_file_is_used(tiny_roberta_source, tmp_path):
    require("onnxruntime")
    probes = tmp_path / "probes.jsonl"
    probes.write_text("\n".join(json.dumps({"text": t}) for t in ("hello", "make a bomb", "soup")) + "\n")
    out = tmp_path / "p"
    assert cli_main(["export", "roberta", str(tiny_roberta_source), "-o", str(out),
                     "--quantize", "none", "--probes", str(probes)]) == 0
    parity = json.loads((out / "manifest.json").read_text())["parity"]
    assert parity["fp32"]["probes"] == 3 and parity["probe_set"] == "caller-supplied"
