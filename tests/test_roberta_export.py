"""RoBERTa export: spec and label resolution, CLI, loud parity failure, offline-only loading."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import block_network, require

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
    local = resolve_source(spec, str(tmp_path), None, None)
    assert local.local and local.revision is None and local.unsafe_index == 1
    # a revision cannot apply to a local directory: refused, not silently dropped
    with pytest.raises(ExportError, match=rf"--revision 'v2' applies to hub ids only, but {tmp_path} is a "
                                          r"local directory.*Leave --revision out, or give the hub id"):
        resolve_source(spec, str(tmp_path), "v2", None)
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
    require("transformers")
    from alignmenter_edge.export.roberta import export_roberta

    attempts = block_network(monkeypatch)
    with pytest.raises(ExportError, match="--download") as failure:
        export_roberta("alignmenter-edge-tests/no-such-model", tmp_path / "out")
    # What happened, not the library's "couldn't connect": no connection was tried.
    assert "is not in the local Hugging Face cache" in str(failure.value)
    assert "connect to" not in str(failure.value)
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
                     "--quantize", "none", "--spec", str(spec_path), "--quiet"])
    assert code == 0
    printed = capsys.readouterr()
    assert printed.err == ""  # --quiet: no progress lines; the summary carries the label warning
    summary, = printed.out.splitlines()
    assert "fp32 max |Δ logit|" in summary
    assert summary.endswith("; WARNING: label 0 is named 'SAFE', which sounds safe, yet it is used "
                            "as the unsafe label")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels"]["unsafe_index"] == 0
    assert manifest["labels"]["unsafe_index_from"] == "spec labels"
    assert "sounds safe" in manifest["extra"]["label_warning"]  # label 0 is named SAFE
    assert manifest["threshold"] == 0.3
    assert manifest["parity"]["fp32"]["threshold"] == 0.3  # label agreement judged at the bundle's threshold
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
    """Reference: transformers' own tokenization of each probe (``_probe_windows``). A
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
        export_roberta(str(source), tmp_path / "out", quantize="none", probes=probes)
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


# --- output directory: --force replaces bundles only, atomically (export/output.py, both exports) ---

def test_force_never_deletes_a_directory_that_is_not_a_bundle(tiny_roberta_source, tmp_path):
    """`export roberta DIR/model -o DIR --force` once deleted the source and the user's files."""
    from alignmenter_edge.export.roberta import export_roberta

    work = tmp_path / "work"
    shutil.copytree(tiny_roberta_source, work / "model")
    (work / "notes.txt").write_text("mine")
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    with pytest.raises(ExportError, match="contains the source model directory"):
        export_roberta(str(work / "model"), work, quantize="none", force=True)
    (work / "manifest.json").write_text("{}")  # looks like a bundle: still refused, it holds the source
    with pytest.raises(ExportError, match="contains the source model directory"):
        export_roberta(str(work / "model"), work, quantize="none", force=True)
    (work / "manifest.json").unlink()
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(ExportError, match=r"is not a bundle \(it has no manifest.json\), so --force will not"):
        export_roberta(str(work / "model"), other, quantize="none", force=True)
    assert (other / "precious.txt").read_text() == "keep me"
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == before
    assert not list(tmp_path.glob(".*"))  # no work directory left behind


def test_output_that_is_a_file_is_an_export_error(tiny_roberta_source, tmp_path):
    from alignmenter_edge.export.roberta import export_roberta

    target = tmp_path / "afile"
    target.write_text("not a directory")
    with pytest.raises(ExportError, match=f"the output {target} is a file, not a directory"):
        export_roberta(str(tiny_roberta_source), target, quantize="none", force=True)
    with pytest.raises(ExportError, match=f"{target} is a file, not a directory"):
        export_roberta(str(tiny_roberta_source), target / "bundle", quantize="none")
    assert target.read_text() == "not a directory"


def _fake_bundle(directory: Path, text: str) -> None:
    from alignmenter_edge.bundle import write_bundle

    directory.mkdir()
    (directory / "model.onnx").write_text(text)
    write_bundle(directory, ["model.onnx"], tier="roberta-onnx", model_id=text, sources=[],
                 labels={"unsafe_index": 1}, max_input_tokens=8, long_input_policy="windows",
                 quantization="fp32")


def test_publish_replaces_a_bundle_atomically_and_puts_it_back_on_failure(tmp_path, monkeypatch):
    """The shared last step of both exports: verify, chmod, move the old bundle aside (hidden,
    same parent), move the new one in, delete the old one; on failure the old one is put back."""
    from alignmenter_edge.export import output as output_module

    root = tmp_path / "bundles"
    root.mkdir()
    out, stage = root / "bundle", root / ".stage-1"
    _fake_bundle(out, "old")
    _fake_bundle(stage, "new")
    real_rename = os.rename
    moves = []

    def failing_rename(src, dst):
        moves.append((Path(src), Path(dst)))
        if Path(src) == stage:
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(output_module.os, "rename", failing_rename)
    with pytest.raises(ExportError, match="cannot move the bundle into .*No space left on device"):
        output_module.publish(stage, out, force=True)
    assert (out / "model.onnx").read_text() == "old"  # put back
    assert moves[0][0] == out and moves[0][1].parent.name.startswith(".bundle.replaced-")  # aside first
    assert sorted(p.name for p in root.iterdir()) == [".stage-1", "bundle"]
    monkeypatch.setattr(output_module.os, "rename", real_rename)
    old_umask = os.umask(0o027)
    try:
        output_module.publish(stage, out, force=True)
    finally:
        os.umask(old_umask)
    assert (out / "model.onnx").read_text() == "new"
    assert (out.stat().st_mode & 0o777) == 0o750  # 0o755 & ~umask, not mkdtemp's 0o700
    assert [p.name for p in root.iterdir()] == ["bundle"]  # the old one is gone, nothing hidden left
    with pytest.raises(ExportError, match="exists and is not empty; .*--force"):
        output_module.check_output(out, force=False)


def test_force_replaces_only_a_whole_bundle_of_this_format(tmp_path):
    """--force once deleted any directory holding a file named manifest.json (a web app's, say)
    and any file someone had put into a bundle directory. Reference: the manifest's own format
    field and file table."""
    from alignmenter_edge.export.output import check_output
    from alignmenter_edge.export.roberta import export_roberta

    webapp = tmp_path / "webapp"
    webapp.mkdir()
    (webapp / "manifest.json").write_text('{"name": "My app", "start_url": "/", "files": {}}')
    (webapp / "index.html").write_text("<html></html>")
    with pytest.raises(ExportError, match=r"webapp is not a bundle \(its manifest.json is not an alignmenter-edge "
                                          r"bundle manifest.*so --force will not delete it; choose an empty"):
        export_roberta(str(tmp_path / "no-model-needed"), webapp, quantize="none", force=True)
    (webapp / "manifest.json").write_text("not json")
    with pytest.raises(ExportError, match="is not an alignmenter-edge bundle manifest"):
        check_output(webapp, force=True)
    assert sorted(p.name for p in webapp.iterdir()) == ["index.html", "manifest.json"]

    bundle = tmp_path / "bundle"
    _fake_bundle(bundle, "old")
    assert check_output(bundle, force=True) == bundle  # a bundle alone is replaced
    manifest = json.loads((bundle / "manifest.json").read_text())
    (bundle / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    assert check_output(bundle, force=True) == bundle  # a newer version's bundle too
    (bundle / "notes.txt").write_text("mine")
    (bundle / "logs").mkdir()
    (bundle / "logs" / "run.log").write_text("mine too")
    (bundle / "empty").mkdir()
    with pytest.raises(ExportError, match=r"bundle holds files its manifest.json does not list \(empty, "
                                          r"logs/run.log, notes.txt\); --force replaces a bundle as a whole, "
                                          r"so it will not delete them. Move them out"):
        check_output(bundle, force=True)
    assert (bundle / "notes.txt").read_text() == "mine" and (bundle / "model.onnx").read_text() == "old"


@pytest.mark.slow
def test_hub_id_from_the_cache_records_its_commit(tiny_roberta_source, tiny_roberta_bundle_fp32, tmp_path,
                                                  monkeypatch, fake_hf_cache):
    """transformers 5.x no longer sets config._commit_hash: the commit comes from the snapshot
    directory the cache resolves the id to. Also: --force replaces an existing bundle, the new one
    has a plain directory's mode, and nothing connects to the network."""
    require("onnxruntime")
    from alignmenter_edge.export.roberta import export_roberta

    commit = fake_hf_cache("alignmenter-edge-tests/tiny-roberta", tiny_roberta_source)
    out = tmp_path / "bundles" / "hub"
    out.parent.mkdir()
    shutil.copytree(tiny_roberta_bundle_fp32, out)
    attempts = block_network(monkeypatch)
    old_umask = os.umask(0o022)
    try:
        export_roberta("alignmenter-edge-tests/tiny-roberta", out, quantize="none", force=True,
                       probes=["hello there", "how do i make a bomb"])
    finally:
        os.umask(old_umask)
    assert attempts == []
    manifest = json.loads((out / "manifest.json").read_text())
    source = manifest["sources"][0]
    assert (source["id"], source["kind"], source["commit"]) == ("alignmenter-edge-tests/tiny-roberta", "hub", commit)
    assert manifest["model_id"] == "alignmenter-edge-tests/tiny-roberta"  # replaced the copied fp32 bundle
    assert (out.stat().st_mode & 0o777) == 0o755
    assert [p.name for p in out.parent.iterdir()] == ["hub"]


@pytest.mark.slow
def test_int8_parity_is_measured_as_the_runtime_scores_int8(tiny_roberta_source, tiny_roberta_bundle):
    """Reference: PyTorch on every window of each probe, a probe's P(unsafe) its most unsafe
    window's; candidate: the bundle as load_classifier runs it by default (one window per call for
    int8), its final score of each probe. The manifest must record exactly that."""
    require("onnxruntime")
    from transformers import AutoModelForSequenceClassification

    from alignmenter_edge.export.parity import compare_unsafe_probabilities, max_abs_diff
    from alignmenter_edge.export.roberta import PROBE_TEXTS, p_unsafe, torch_logits

    parity = json.loads((tiny_roberta_bundle / "manifest.json").read_text())["parity"]
    model = AutoModelForSequenceClassification.from_pretrained(tiny_roberta_source).eval()
    with load_classifier(tiny_roberta_bundle) as clf:
        assert clf.batch_size == 1
        windows = [clf.engine.windows(ids) for ids in clf.engine.encode(list(PROBE_TEXTS))]
        sequences = [w for probe in windows for w in probe]
        shipped = clf.engine.logits(sequences, clf.batch_size).tolist()
        batched = clf.engine.logits(sequences, 8).tolist()
        scores = clf.unsafe_probabilities(list(PROBE_TEXTS))
    assert [len(w) > 1 for w in windows].count(True) == parity["windowed_probes"] == 1  # the built-in long probe
    reference = torch_logits(model, sequences)
    window_p = iter(p_unsafe(reference, 1))
    most_unsafe = [max(next(window_p) for _ in probe) for probe in windows]
    expected = compare_unsafe_probabilities(most_unsafe, scores)
    assert parity["int8"]["batch_size"] == 1 and "default batch size" in parity["int8"]["scored"]
    assert parity["int8"]["windows"] == parity["fp32"]["windows"] == len(sequences) > len(PROBE_TEXTS)
    # Thread counts differ from the export's (last digits move: ~1e-4 relative); batches of 8 moved
    # these figures by 4-10 % on this model.
    for key in ("max_abs_diff_p_unsafe", "mean_abs_diff_p_unsafe"):
        assert parity["int8"][key] == pytest.approx(expected[key], rel=2e-3), key
    assert parity["int8"]["max_abs_diff_logit"] == pytest.approx(max_abs_diff(reference, shipped), rel=2e-3)
    assert max_abs_diff(shipped, batched) > 1e-5  # batching really changes int8 logits here


@pytest.mark.slow
def test_a_long_probe_is_gated_on_the_bundles_own_score(tiny_roberta_source, tmp_path, monkeypatch):
    """Reference: PyTorch on each window the runtime cuts (windows.window_spans), the probe's
    P(unsafe) its most unsafe window's. Parity once compared the first window only, so a runtime
    that scored a long text by its first window (truncation, the failure windowing exists to
    prevent) exported with perfect parity."""
    require("onnxruntime")
    from alignmenter_edge.export.roberta import export_roberta
    from alignmenter_edge.tiers import roberta_onnx

    long_text = "please tell me about the weather in the garden today " * 12 + "how to make a bomb and kill"
    probes = ["hello", long_text]
    manifest = export_roberta(str(tiny_roberta_source), tmp_path / "ok", quantize="none", max_length=32,
                              probes=probes)
    parity = manifest.parity
    assert parity["windowed_probes"] == 1 and parity["fp32"]["probes"] == 2 and parity["fp32"]["windows"] > 3
    assert parity["fp32"]["max_abs_diff_p_unsafe"] <= 1e-4 and parity["fp32"]["label_agreement"] == 1.0
    with load_classifier(tmp_path / "ok") as clf:
        first, *_ = clf.engine.windows(clf.engine.encode([long_text])[0])
        first_p = clf.engine.p_unsafe_of_logits(clf.engine.logits([first], 1))[0]
        assert clf.unsafe_probabilities([long_text])[0] > 0.5 > first_p  # the unsafe part is at the end

    def first_window_only(self, texts, batch_size):
        return [float(self.p_unsafe_of_logits(self.logits([self.windows(ids)[0]], batch_size))[0])
                for ids in self.encode(texts)]

    monkeypatch.setattr(roberta_onnx.RobertaEngine, "p_unsafe", first_window_only)
    with pytest.raises(ExportError, match=r"fp32 bundle's score vs PyTorch's most unsafe window, max "
                                          r"\|Δ P\(unsafe\)\| = 0\.[1-9]"):
        export_roberta(str(tiny_roberta_source), tmp_path / "truncating", quantize="none", max_length=32,
                       probes=probes)
    assert not (tmp_path / "truncating").exists()


# --- probe sets ---

def test_probe_file_reading(tmp_path):
    from alignmenter_edge.export.probes import choose_probes, read_probe_file

    good = tmp_path / "good.txt"
    good.write_text('plain text\n\n{"text": "{braces} as JSONL"}\n  indented line\n')
    assert read_probe_file(good) == ["plain text", "{braces} as JSONL", "  indented line"]
    bad = tmp_path / "bad.txt"
    bad.write_text("fine\n{not json} but text\n")
    with pytest.raises(ExportError, match=r"bad.txt line 2: starts with '\{' but is not a JSON object .*invalid JSON"):
        read_probe_file(bad)
    bad.write_text('{"prompt": "no text key"}\n')
    with pytest.raises(ExportError, match=r"line 1: .*no \"text\" string"):
        read_probe_file(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(ExportError, match="holds no probe texts"):
        read_probe_file(empty)
    assert choose_probes(None, ("a", "b")) == (["a", "b"], "built-in")
    assert choose_probes(["x", ""], ("a",)) == (["x", ""], "caller-supplied")
    with pytest.raises(ExportError, match="probe list is empty"):
        choose_probes([], ("a",))


@pytest.mark.slow
def test_empty_probe_file_is_an_error_not_the_built_in_probes(tiny_roberta_source, tmp_path, capsys):
    """An empty --probes file once fell back to the built-in probes while the manifest said
    probe_set "caller-supplied"."""
    empty = tmp_path / "probes.txt"
    empty.write_text("\n")
    out = tmp_path / "p"
    assert cli_main(["export", "roberta", str(tiny_roberta_source), "-o", str(out),
                     "--quantize", "none", "--probes", str(empty)]) == 2
    assert "probe" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_int8_quantization_keeps_onnxruntimes_generic_advice_out_of_the_export_log(
        tiny_roberta_bundle_fp32, tmp_path, caplog):
    """quantize_dynamic's root-logger advice to pre-process is dropped during our call only."""
    require("onnxruntime")
    import logging

    from alignmenter_edge.export.roberta import quantize_int8

    with caplog.at_level(logging.WARNING):
        quantize_int8(tiny_roberta_bundle_fp32 / "model.onnx", tmp_path / "int8.onnx")
        assert (tmp_path / "int8.onnx").stat().st_size > 0
        assert not [r for r in caplog.records if "pre-processing" in r.getMessage()]
        logging.warning("consider to run pre-processing before quantization")  # the filter is gone after
    assert [r.getMessage() for r in caplog.records] == ["consider to run pre-processing before quantization"]


def test_quiet_progress_bars_are_restored_afterwards():
    """--quiet turns the libraries' progress bars off for one export only, in-process callers keep theirs."""
    require("transformers")
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as transformers_logging

    from alignmenter_edge.export.quiet import no_progress_bars

    assert transformers_logging.is_progress_bar_enabled() and not hub_utils.are_progress_bars_disabled()
    with pytest.raises(RuntimeError, match="export failed"):
        with no_progress_bars():
            assert not transformers_logging.is_progress_bar_enabled()
            assert hub_utils.are_progress_bars_disabled()
            raise RuntimeError("export failed")
    assert transformers_logging.is_progress_bar_enabled() and not hub_utils.are_progress_bars_disabled()
    transformers_logging.disable_progress_bar()  # a caller that had them off keeps them off
    try:
        with no_progress_bars():
            pass
        assert not transformers_logging.is_progress_bar_enabled()
    finally:
        transformers_logging.enable_progress_bar()


# --- checks before a wrong bundle can be written ------------------------------------------------

@pytest.mark.slow
def test_int8_export_fails_when_a_probe_moves_past_the_quantized_tolerance(tiny_roberta_source, tmp_path):
    """Reference: the int8 parity figures the export measures (every int8 logit differs a little
    from PyTorch's). At a tolerance below the measured |Δ P(unsafe)| the export must fail and
    write nothing; at the default it passes and records the tolerance."""
    require("onnxruntime")
    from alignmenter_edge.export.roberta import export_roberta

    manifest = export_roberta(str(tiny_roberta_source), tmp_path / "ok", quantize="int8")
    measured = manifest.parity["int8"]["max_abs_diff_p_unsafe"]
    assert 0 < measured <= 0.25 and manifest.parity["int8"]["tolerance_p_unsafe"] == 0.25
    with pytest.raises(ExportError, match=r"int8 ONNX vs PyTorch: a probe's P\(unsafe\) moved by .* over "
                                          r"the quantized tolerance .*--quantized-tolerance"):
        export_roberta(str(tiny_roberta_source), tmp_path / "tight", quantize="int8",
                       quantized_tolerance=measured / 2)
    assert not (tmp_path / "tight").exists() and not list(tmp_path.glob(".roberta-export-*"))


@pytest.mark.slow
def test_model_labels_that_contradict_the_spec_need_an_explicit_unsafe_index(tiny_roberta_source, tmp_path):
    """Reference: the model's own id2label. The default spec says [safe, unsafe] with unsafe 1; a
    model naming its labels 0=TOXIC, 1=NOT_TOXIC would be exported inverted. It must be refused
    until --unsafe-index says which label is unsafe."""
    require("onnxruntime")
    from alignmenter_edge.export.roberta import export_roberta

    source = tmp_path / "toxic-first"
    shutil.copytree(tiny_roberta_source, source)
    config = json.loads((source / "config.json").read_text())
    config["id2label"] = {"0": "TOXIC", "1": "NOT_TOXIC"}
    config["label2id"] = {"TOXIC": 0, "NOT_TOXIC": 1}
    (source / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match=r"names its labels 0=TOXIC, 1=NOT_TOXIC, but the unsafe index 1 "
                                          r"comes from spec labels.*--unsafe-index N"):
        export_roberta(str(source), tmp_path / "out", quantize="none")
    assert not (tmp_path / "out").exists()
    manifest = export_roberta(str(source), tmp_path / "out", quantize="none", unsafe_index=0)
    assert manifest.labels["unsafe_index"] == 0 and manifest.labels["unsafe_index_from"] == "command line"


@pytest.mark.parametrize(("change", "message"), [
    ({"threshold": 0}, r"the model spec's threshold must be a finite number in \(0, 1\]"),
    ({"threshold": 1.5}, r"the model spec's threshold must be"),
    ({"max_input_tokens": 0}, r"the spec's max_input_tokens must be a positive whole number"),
])
def test_bad_spec_numbers_fail_before_the_model_loads(tiny_roberta_source, tmp_path, change, message):
    from alignmenter_edge.export.roberta import export_roberta

    spec = {**load_spec("distilled-safety-roberta"), **change}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ExportError, match=message):
        export_roberta(str(tmp_path / "no-model-needed"), tmp_path / "out", spec=spec_path)


@pytest.mark.parametrize(("options", "message"), [
    ({"max_length": 0}, r"--max-length must be a positive whole number"),
    ({"quantized_tolerance": float("inf")}, r"--quantized-tolerance must be a finite number above 0"),
    ({"quantized_tolerance": -1.0}, r"--quantized-tolerance must be a finite number above 0"),
])
def test_bad_export_options_fail_before_the_model_loads(tmp_path, options, message):
    from alignmenter_edge.export.roberta import export_roberta

    with pytest.raises(ExportError, match=message):
        export_roberta(str(tmp_path / "no-model-needed"), tmp_path / "out", **options)


@pytest.mark.slow
def test_a_classifier_the_softmax_does_not_fit_is_refused(tiny_roberta_source, tmp_path):
    """Reference: the model's config (num_labels, problem_type). With one logit the runtime's
    softmax is 1.0 for every text, so every score was 0.0 and parity was "perfect"; a
    multi-label model's labels are independent sigmoids, not a softmax."""
    require("onnxruntime")
    from tokenizers import Tokenizer

    from alignmenter_edge.export.roberta import export_roberta
    from alignmenter_edge.export.roberta_synthetic import random_roberta, save_hf_directory

    single = tmp_path / "single-logit"
    single.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_roberta_source / name, single / name)
    vocab = Tokenizer.from_file(str(single / "tokenizer.json")).get_vocab_size()
    save_hf_directory(random_roberta(single, vocab_size=vocab, layers=1, hidden=32, heads=2, intermediate=64,
                                     label_names=("toxic",)), single)
    with pytest.raises(ExportError, match=r"single-logit has 1 output label\(s\); this export needs a softmax "
                                          r"classifier with at least two labels.*every score would be 0.0"):
        export_roberta(str(single), tmp_path / "out", quantize="none", unsafe_index=0)
    multi = tmp_path / "multi-label"
    shutil.copytree(tiny_roberta_source, multi)
    config = json.loads((multi / "config.json").read_text())
    config["problem_type"] = "multi_label_classification"
    (multi / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match=r"multi-label is a multi-label classifier \(problem_type "
                                          r"multi_label_classification\).*softmax"):
        export_roberta(str(multi), tmp_path / "out", quantize="none")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".roberta-export-*"))


@pytest.mark.slow
@pytest.mark.parametrize(("names", "unsafe_index", "warned"), [
    (("toxic", "non-toxic"), 1, True),
    (("nothate", "hate"), 0, True),
    (("NOT_TOXIC", "TOXIC"), 0, True),
    (("SAFE", "NOT_SAFE"), 1, False),  # a negated safe word is the unsafe class
    (("clean", "toxic"), 1, False),
])
def test_an_unsafe_label_named_as_a_negation_is_warned_about(tiny_roberta_source, tmp_path, names,
                                                             unsafe_index, warned):
    """Reference: the model's own label names. The warning matched whole safe words only, so an
    unsafe index on 'non-toxic' (inverting every score) went unmentioned."""
    require("onnxruntime")
    from alignmenter_edge.export.roberta import export_roberta

    source = tmp_path / "named"
    shutil.copytree(tiny_roberta_source, source)
    config = json.loads((source / "config.json").read_text())
    config["id2label"] = dict(enumerate(names))
    config["label2id"] = {name: i for i, name in enumerate(names)}
    (source / "config.json").write_text(json.dumps(config))
    manifest = export_roberta(str(source), tmp_path / "out", quantize="none", unsafe_index=unsafe_index,
                              probes=["hello"])
    warning = manifest.extra.get("label_warning")
    if warned:
        assert warning == (f"label {unsafe_index} is named {names[unsafe_index]!r}, which sounds safe, yet "
                           "it is used as the unsafe label")
    else:
        assert warning is None
