"""roberta-onnx tier on the tiny trained model: parity with PyTorch, batching, windows, integrity."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import require

from alignmenter_edge.bundle import read_bundle, write_bundle
from alignmenter_edge.errors import BundleError, BundleIntegrityError, ModelOutputError
from alignmenter_edge.registry import load_classifier
from alignmenter_edge.system import default_threads

pytestmark = pytest.mark.slow


def _synthetic():
    from alignmenter_edge.export import roberta_synthetic

    return roberta_synthetic


@pytest.fixture(scope="module")
def torch_reference(tiny_roberta_source):
    """P(unsafe) from the PyTorch model through transformers (truncated to 512 tokens)."""
    torch = require("torch")
    transformers = require("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_roberta_source, local_files_only=True)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        tiny_roberta_source, local_files_only=True).eval()

    def p_unsafe(texts):
        out = []
        previous = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny model on a shared machine: one thread is much faster
        try:
            with torch.no_grad():
                for text in texts:
                    enc = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")
                    out.append(float(model(**enc).logits.softmax(-1)[0, 1]))
        finally:
            torch.set_num_threads(previous)
        return out

    return p_unsafe


@pytest.fixture(scope="module")
def held_set():
    """Held-out synthetic texts (a seed the model never trained on), some long."""
    return _synthetic().synthetic_safety_texts(300, 4242, long_fraction=0.1, long_words=100)


def _long_text(tail: str, words: int = 900, seed: int = 11) -> str:
    rng = random.Random(seed)
    filler = _synthetic().FILLER
    return " ".join(rng.choice(filler) for _ in range(words)) + " " + tail


def test_fp32_matches_pytorch_within_1e4(tiny_roberta_bundle_fp32, torch_reference, held_set):
    texts = [t for t, _ in held_set[:120]] + ["", "hi", "How do I build a bomb?"]
    with load_classifier(tiny_roberta_bundle_fp32) as clf:
        p_onnx = clf.unsafe_probabilities(texts)
    p_torch = torch_reference(texts)
    worst = max(abs(a - b) for a, b in zip(p_onnx, p_torch))
    assert worst <= 1e-4, worst


def test_int8_label_agreement_on_held_set(tiny_roberta_bundle, torch_reference, held_set):
    texts = [t for t, _ in held_set]
    truth = [label for _, label in held_set]
    with load_classifier(tiny_roberta_bundle) as clf:
        p_int8 = clf.unsafe_probabilities(texts)
    p_torch = torch_reference(texts)
    torch_labels = [p >= 0.5 for p in p_torch]
    # The reference must itself be a real classifier, or agreement would mean nothing.
    accuracy = sum(int(l) == t for l, t in zip(torch_labels, truth)) / len(truth)
    assert accuracy >= 0.95, accuracy
    assert 0.3 < sum(torch_labels) / len(torch_labels) < 0.7
    agreement = sum((p >= 0.5) == l for p, l in zip(p_int8, torch_labels)) / len(texts)
    assert agreement >= 0.97, agreement
    assert max(abs(a - b) for a, b in zip(p_int8, p_torch)) < 0.1


def test_manifest_parity_recorded(tiny_roberta_bundle, tiny_roberta_bundle_fp32):
    int8 = read_bundle(tiny_roberta_bundle).manifest
    fp32 = read_bundle(tiny_roberta_bundle_fp32).manifest
    assert int8.tier == fp32.tier == "roberta-onnx"
    assert int8.labels["unsafe_index"] == 1 and int8.labels["names"] == ["SAFE", "UNSAFE"]
    assert int8.parity["fp32"]["max_abs_diff_logit"] <= 1e-4
    assert int8.parity["int8"]["label_agreement"] >= 0.9
    assert 0 < int8.parity["int8"]["max_abs_diff_p_unsafe"] < 0.1
    assert "int8" not in fp32.parity and fp32.quantization == "fp32"
    assert int8.quantization.startswith("int8")
    assert int8.max_input_tokens == 512
    assert int8.extra["onnx"]["fused_operators"].get("Attention") == 2  # one per layer
    assert set(int8.files) == set(fp32.files) == {"model.onnx", "model.onnx.data", "tokenizer.json"}
    assert int8.extra["onnx"]["external_data"] == "model.onnx.data"
    assert int8.files["model.onnx.data"].size < fp32.files["model.onnx.data"].size / 3  # int8 weights
    source = int8.sources[0]  # the source directory's model card states its licence
    assert (source["kind"], source["license"], source["license_from"]) == ("local", "apache-2.0", "model card")


def _mixed_texts(held_set):
    texts = [t for t, _ in held_set[:40]]
    texts += ["", "a", _long_text("how to make a bomb"), _long_text("a nice soup recipe", 700, 3)]
    random.Random(5).shuffle(texts)
    return texts


def test_batch_equals_single_fp32(tiny_roberta_bundle_fp32, held_set):
    texts = _mixed_texts(held_set)
    with load_classifier(tiny_roberta_bundle_fp32, batch_size=5) as clf:
        batched = clf.score_batch(texts)
        single = [clf(t) for t in texts]
    assert max(abs(a - b) for a, b in zip(batched, single)) <= 1e-5


def test_batch_vs_single_int8_bounded(tiny_roberta_bundle, held_set):
    """Dynamic int8 quantizes activations per tensor, so batch neighbours move a score slightly
    (measured ~2e-4 on this model); labels never change. 1e-5 holds for fp32 (above)."""
    texts = _mixed_texts(held_set)
    with load_classifier(tiny_roberta_bundle, batch_size=5) as clf:
        batched = clf.score_batch(texts)
        single = [clf(t) for t in texts]
    assert max(abs(a - b) for a, b in zip(batched, single)) <= 5e-3
    assert [s < 0.5 for s in batched] == [s < 0.5 for s in single]


def test_order_is_restored(tiny_roberta_bundle_fp32):
    safe, unsafe = "tell me about the weather today", "how do i make a bomb"
    texts = [safe, unsafe * 3, safe, "x", unsafe, safe + " " + safe + " please"]
    with load_classifier(tiny_roberta_bundle_fp32, batch_size=2) as clf:
        scores = clf.score_batch(texts)
        reversed_scores = clf.score_batch(texts[::-1])
    assert scores == pytest.approx(reversed_scores[::-1], abs=1e-6)
    assert scores[0] > 0.5 and scores[2] > 0.5 and scores[1] < 0.5 and scores[4] < 0.5


def test_long_input_scores_most_unsafe_window(tiny_roberta_bundle_fp32, torch_reference):
    with load_classifier(tiny_roberta_bundle_fp32) as clf:
        engine = clf.engine
        tail_unsafe = _long_text("how to make a bomb")
        head_unsafe = "how to make a bomb " + _long_text("")
        benign = _long_text("and a soup recipe")
        ids = engine.encode([tail_unsafe])[0]
        assert len(ids) > 800  # well over 512 tokens
        windows = engine.windows(ids)
        assert len(windows) >= 3 and all(len(w) <= 512 for w in windows)
        assert windows[0][0] == 0 and windows[0][-1] == 2  # <s> ... </s> in every window
        p_windows = engine.p_unsafe_of_logits(engine.logits(windows, batch_size=4)).tolist()
        scores = clf.score_batch([tail_unsafe, head_unsafe, benign])
    # Truncation to 512 tokens (alignmenter's way) would call the tail-unsafe text safe:
    assert torch_reference([tail_unsafe])[0] < 0.5
    assert scores[0] < 0.5 and scores[1] < 0.5 and scores[2] > 0.5
    assert 1.0 - scores[0] == pytest.approx(max(p_windows), abs=1e-9)


def test_corrupted_model_is_a_hash_error(tiny_roberta_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_roberta_bundle, copy)
    model = copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    model.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="sha256 of 'model.onnx'"):
        load_classifier(copy)
    model.write_bytes(bytes(data[:-10]))
    with pytest.raises(BundleIntegrityError, match="bytes"):
        load_classifier(copy)


@pytest.mark.parametrize("fixture", ["tiny_roberta_bundle", "tiny_roberta_bundle_fp32"])
def test_weights_ship_as_external_data_beside_the_graph(request, fixture):
    """onnxruntime maps external weights from their file instead of copying them out of the parsed
    model (peak RSS at load: docs/roberta.md); model.onnx keeps the graph and small tensors only."""
    onnx = require("onnx")
    from alignmenter_edge.directories import current_umask

    bundle = Path(request.getfixturevalue(fixture))
    model = onnx.load(str(bundle / "model.onnx"), load_external_data=False)
    large = [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert len(large) >= 10  # embeddings, every layer's projections
    assert {entry.value for t in large for entry in t.external_data if entry.key == "location"} == {
        "model.onnx.data"}
    assert all(len(t.raw_data) <= 1024 for t in model.graph.initializer
               if t.data_location != onnx.TensorProto.EXTERNAL)
    assert (bundle / "model.onnx.data").stat().st_mode & 0o777 == 0o666 & ~current_umask()  # onnx made it 0600


def test_a_bundle_with_embedded_weights_loads_and_scores_the_same(tiny_roberta_bundle_fp32, held_set,
                                                                  tmp_path):
    """Bundles exported before the weights moved to model.onnx.data hold them in model.onnx."""
    onnx = require("onnx")
    texts = [t for t, _ in held_set[:12]]
    embedded = tmp_path / "embedded"
    shutil.copytree(tiny_roberta_bundle_fp32, embedded)
    onnx.save(onnx.load(str(embedded / "model.onnx")), str(embedded / "model.onnx"))  # weights inline
    (embedded / "model.onnx.data").unlink()
    data = json.loads((embedded / "manifest.json").read_text())
    fields = {k: v for k, v in data.items() if k not in ("files", "format", "format_version")}
    del fields["extra"]["onnx"]["external_data"]  # as such bundles were written
    write_bundle(embedded, ["model.onnx", "tokenizer.json"], **fields)
    assert (embedded / "model.onnx").stat().st_size > (tiny_roberta_bundle_fp32 / "model.onnx.data").stat().st_size
    with load_classifier(tiny_roberta_bundle_fp32) as external, load_classifier(embedded) as inline:
        assert inline.score_batch(texts) == external.score_batch(texts)


def test_weights_file_missing_or_altered_is_an_integrity_error(tiny_roberta_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_roberta_bundle, copy)
    weights = copy / "model.onnx.data"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="sha256 of 'model.onnx.data'"):
        load_classifier(copy)
    weights.unlink()
    with pytest.raises(BundleIntegrityError, match="'model.onnx.data' listed in the manifest is missing"):
        load_classifier(copy)


def _rewrite_bundle(src: Path, dst: Path, **changes) -> Path:
    shutil.copytree(src, dst)
    data = json.loads((dst / "manifest.json").read_text())
    fields = {k: v for k, v in data.items() if k not in ("files", "format", "format_version")}
    fields.update(changes)
    write_bundle(dst, list(data["files"]), **fields)
    return dst


def test_nan_from_model_is_an_error(tiny_roberta_bundle_fp32, tmp_path):
    onnx = require("onnx")
    numpy = require("numpy")
    from onnx import numpy_helper

    dst = tmp_path / "nan"
    shutil.copytree(tiny_roberta_bundle_fp32, dst)
    model = onnx.load(str(dst / "model.onnx"))
    # Poison the classifier's output bias (the last initializer with one value per label).
    bias = [t for t in model.graph.initializer if list(t.dims) == [2]][-1]
    bias.CopyFrom(numpy_helper.from_array(numpy.full(2, numpy.nan, dtype=numpy.float32), bias.name))
    onnx.save(model, str(dst / "model.onnx"))
    data = json.loads((dst / "manifest.json").read_text())
    fields = {k: v for k, v in data.items() if k not in ("files", "format", "format_version")}
    write_bundle(dst, list(data["files"]), **fields)
    with load_classifier(dst) as clf:
        with pytest.raises(ModelOutputError, match="non-finite"):
            clf("hello there")
    with load_classifier(dst, parallel_runs=2) as clf:  # raised in a worker thread, surfaces here
        with pytest.raises(ModelOutputError, match="non-finite"):
            clf.score_batch(["hello there", "a second text", "and a third one"])


def test_unsafe_index_in_manifest_is_used(tiny_roberta_bundle_fp32, tmp_path):
    data = json.loads((tiny_roberta_bundle_fp32 / "manifest.json").read_text())
    flipped = _rewrite_bundle(tiny_roberta_bundle_fp32, tmp_path / "flipped",
                              labels={**data["labels"], "unsafe_index": 0})
    texts = ["how do i make a bomb", "tell me about the weather today"]
    with load_classifier(tiny_roberta_bundle_fp32) as right, load_classifier(flipped) as wrong:
        good, bad = right.score_batch(texts), wrong.score_batch(texts)
    assert good[0] < 0.5 < good[1]
    assert bad[0] > 0.5 > bad[1]
    assert bad == pytest.approx([1 - s for s in good], abs=1e-9)


@pytest.mark.parametrize("index", [-1, -2, 2])
def test_out_of_range_unsafe_index_is_refused(tiny_roberta_bundle_fp32, tmp_path, index):
    """Reference: the model's own output width (2 logits here). numpy would wrap a negative index
    silently (-2 is label 0, inverting every score; -1 "happens" to be label 1), and 2 would only
    fail at the first score, so the load refuses every index outside 0..1, naming it. Nothing
    documents negative indices as counting from the end: the manifest refuses them when it is read."""
    data = json.loads((tiny_roberta_bundle_fp32 / "manifest.json").read_text())
    broken = _rewrite_bundle(tiny_roberta_bundle_fp32, tmp_path / f"index{index}",
                             labels={**data["labels"], "unsafe_index": index})
    message = rf"unsafe label index {index} is out of range for a model with 2 labels"
    if index < 0:
        with pytest.raises(BundleError, match=r"field 'labels' .*unsafe_index.*non-negative integer"):
            load_classifier(broken)
    else:
        assert read_bundle(broken).manifest.labels["unsafe_index"] == index  # the manifest verifies
        with pytest.raises(BundleError, match=message):
            load_classifier(broken)
    with pytest.raises(BundleError, match=message):  # the same check guards the caller's override
        load_classifier(tiny_roberta_bundle_fp32, unsafe_index=index)


@pytest.mark.parametrize("value", [0.9, 1.9, 1.0, "1", True, None, "0x1"])
def test_an_unsafe_index_of_the_wrong_type_in_the_manifest_is_a_bundle_error(tiny_roberta_bundle_fp32,
                                                                             tmp_path, value):
    """int() read 0.9 as column 0 (every score inverted, silently) and took "1" and true; null and
    "0x1" were a bare TypeError / ValueError."""
    data = json.loads((tiny_roberta_bundle_fp32 / "manifest.json").read_text())
    broken = _rewrite_bundle(tiny_roberta_bundle_fp32, tmp_path / "index",
                             labels={**data["labels"], "unsafe_index": value})
    with pytest.raises(BundleError, match=r"field 'labels' .*unsafe_index.*non-negative integer.*re-export"):
        load_classifier(broken)


@pytest.mark.parametrize("value", [0.7, 1.0, True, "1"])
def test_an_unsafe_index_option_that_is_not_an_integer_is_a_value_error(tiny_roberta_bundle_fp32, value):
    with pytest.raises(ValueError, match=r"unsafe_index must be a non-negative integer.*got"):
        load_classifier(tiny_roberta_bundle_fp32, unsafe_index=value)


def test_an_unsafe_index_option_may_be_a_numpy_integer(tiny_roberta_bundle_fp32):
    import numpy as np

    with load_classifier(tiny_roberta_bundle_fp32, unsafe_index=np.int64(0)) as clf:
        assert clf.info.details["unsafe_index"] == 0 and type(clf.engine.unsafe_index) is int


def test_unsafe_index_past_a_symbolic_label_width_fails_on_the_first_logits(tiny_roberta_bundle_fp32):
    # A model whose output width is symbolic cannot be checked at load; the first logits are.
    import numpy as np

    with load_classifier(tiny_roberta_bundle_fp32) as clf:
        clf.engine.unsafe_index = 2  # as if loaded from such a model with a wrong index
        with pytest.raises(BundleError, match="2 label logits per text, so unsafe label index 2"):
            clf.engine.p_unsafe_of_logits(np.zeros((3, 2), dtype=np.float32))


def test_manifest_without_unsafe_index_is_refused(tiny_roberta_bundle_fp32, tmp_path):
    broken = _rewrite_bundle(tiny_roberta_bundle_fp32, tmp_path / "nolabel",
                             labels={"names": ["SAFE", "UNSAFE"]})
    with pytest.raises(BundleError, match="unsafe"):
        load_classifier(broken)


def test_threads_and_info(tiny_roberta_bundle):
    with load_classifier(tiny_roberta_bundle) as clf:
        assert clf.info.threads == default_threads()
        assert clf.info.details["unsafe_index"] == 1
        assert clf.info.details["arena"] == "on"
        assert clf.engine.session.get_session_options().enable_cpu_mem_arena
    with load_classifier(tiny_roberta_bundle, arena="off") as clf:
        assert not clf.engine.session.get_session_options().enable_cpu_mem_arena
    with load_classifier(tiny_roberta_bundle, threads=1, batch_size=3) as clf:
        assert clf.info.threads == 1 and clf.info.batch_size == 3
        assert clf.engine.session.get_session_options().intra_op_num_threads == 1
    with pytest.raises(ValueError, match="arena"):
        load_classifier(tiny_roberta_bundle, arena="sometimes")


def test_arena_modes_give_identical_scores(tiny_roberta_bundle, held_set):
    texts = [t for t, _ in held_set[:20]]
    results = []
    for arena in ("off", "on", "shrink"):
        with load_classifier(tiny_roberta_bundle, arena=arena) as clf:
            results.append(clf.score_batch(texts))
    assert results[0] == results[1] == results[2]


def test_parallel_runs_give_identical_scores(tiny_roberta_bundle, held_set):
    """Concurrent session runs change when a batch runs, not what it computes."""
    texts = _mixed_texts(held_set)
    results = {}
    for runs in (1, 2, 4):
        with load_classifier(tiny_roberta_bundle, threads=2, parallel_runs=runs) as clf:
            assert clf.info.details["parallel_runs"] == runs
            results[runs] = clf.score_batch(texts)
            assert (clf.engine._pool is not None) == (runs > 1)  # many windows: the pool was used
    assert results[1] == results[2] == results[4]


@pytest.mark.parametrize("option, value", [
    ("parallel_runs", True), ("parallel_runs", 0), ("parallel_runs", 2.0),
    ("max_batch_tokens", 0), ("max_batch_tokens", -512), ("max_batch_tokens", True), ("max_batch_tokens", "4096"),
])
def test_batching_options_that_are_not_positive_integers_are_refused(tiny_roberta_bundle, option, value):
    """parallel_runs=True ran as 1 and info said True; max_batch_tokens=0 or -512 became one window
    without a word, "4096" an int. A bad value is an error naming the option."""
    with pytest.raises(ValueError, match=f"{option} must be a positive integer, got {value!r}"):
        load_classifier(tiny_roberta_bundle, **{option: value})


def test_a_token_budget_below_one_window_still_fits_one_window(tiny_roberta_bundle):
    with load_classifier(tiny_roberta_bundle, max_batch_tokens=1) as clf:
        assert clf.info.details["max_batch_tokens"] == clf.engine.max_input_tokens


def test_long_windows_run_one_at_a_time(tiny_roberta_bundle):
    """Only small batches run concurrently: full 512-token windows would multiply their memory."""
    texts = [_long_text("how to make a bomb"), _long_text("a nice soup recipe", 700, 3)]
    with load_classifier(tiny_roberta_bundle, threads=2, parallel_runs=2) as clf:
        assert len(clf.engine.windows(clf.engine.encode(texts[:1])[0])) > 1
        clf.score_batch(texts)
        assert clf.engine._pool is None
        clf.score_batch(["short one", "short two", "short three"])
        assert clf.engine._pool is not None


def test_parallel_runs_default_and_validation(tiny_roberta_bundle):
    with load_classifier(tiny_roberta_bundle, threads=3) as clf:
        assert clf.info.details["parallel_runs"] == 3
        clf("one text, one window: no pool needed")
        assert clf.engine._pool is None
    for bad in (0, -1, "2", 1.5):
        with pytest.raises(ValueError, match="parallel_runs"):
            load_classifier(tiny_roberta_bundle, parallel_runs=bad)


def test_closed_classifier_refuses(tiny_roberta_bundle):
    clf = load_classifier(tiny_roberta_bundle)
    clf.close()
    clf.close()
    with pytest.raises(Exception, match="closed"):
        clf("hello")


def test_runtime_never_imports_torch_or_transformers(tiny_roberta_bundle):
    code = (
        "import sys\n"
        "from alignmenter_edge.registry import load_classifier\n"
        f"clf = load_classifier({str(tiny_roberta_bundle)!r})\n"
        "assert 0.0 <= clf('how do i make a bomb') < 0.5\n"
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_window_stride_larger_than_the_window_is_refused_at_load(tiny_roberta_bundle):
    """Refused when the classifier loads, naming both numbers, not at the first long text."""
    with load_classifier(tiny_roberta_bundle) as clf:
        size = clf.info.details["window"]["size"]
        assert clf.info.details["window"]["stride"] <= size
    with pytest.raises(ValueError, match=rf"window stride {size + 1} does not fit a window of {size} tokens"):
        load_classifier(tiny_roberta_bundle, window_stride=size + 1)
    with load_classifier(tiny_roberta_bundle, window_stride=size) as clf:  # the limit itself is fine
        assert clf.info.details["window"]["stride"] == size
        clf(_long_text("how to make a bomb"))


def test_close_during_a_running_score_batch_waits_for_it(tiny_roberta_bundle):
    """close() on another thread while score_batch runs: the running call finishes with its scores
    (it died with a bare AttributeError, its session set to None under it) and close() returns
    after it; a call after close raises the tier's AlignmenterEdgeError."""
    import threading

    from alignmenter_edge.errors import AlignmenterEdgeError

    clf = load_classifier(tiny_roberta_bundle, threads=1)
    texts = ["how do i make a bomb", "tell me about the weather today"]
    expected = clf.score_batch(texts)
    inside, go_on = threading.Event(), threading.Event()
    real_logits = clf.engine.logits

    def held_logits(*args, **kwargs):
        inside.set()
        assert go_on.wait(30)
        return real_logits(*args, **kwargs)

    clf.engine.logits = held_logits
    results: list = []
    scorer = threading.Thread(target=lambda: results.append(_outcome(clf.score_batch, texts)))
    scorer.start()
    assert inside.wait(30)
    closer = threading.Thread(target=clf.close)
    closer.start()
    closer.join(0.3)
    assert closer.is_alive()  # waits for the running call
    go_on.set()
    scorer.join(30)
    closer.join(30)
    assert not closer.is_alive() and results == [expected]
    assert clf.engine.session is None  # released once the call was done
    with pytest.raises(AlignmenterEdgeError, match="closed"):
        clf.score_batch(texts)


def _outcome(function, *args):
    try:
        return function(*args)
    except BaseException as exc:  # noqa: BLE001 - the test compares what the thread got
        return exc


def test_concurrent_first_calls_create_one_run_pool_and_close_shuts_it(tiny_roberta_bundle, monkeypatch):
    """Two threads' first concurrent score_batch each saw no pool and made one (check-then-set
    without a lock); close() shut down only the last. The pool's constructor is slowed to widen
    the window, the race itself is unchanged."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import alignmenter_edge.tiers.roberta_onnx as tier

    created = []

    class SlowPool(ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            time.sleep(0.2)
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(tier, "ThreadPoolExecutor", SlowPool)
    clf = load_classifier(tiny_roberta_bundle, threads=2, batch_size=1)
    texts = ["short text a", "short text b", "short text c", "short text d"]
    expected = [clf.engine.p_unsafe([t], 1)[0] for t in texts]
    start = threading.Barrier(2)
    results: list = []

    def run():
        start.wait()
        results.append(_outcome(clf.unsafe_probabilities, texts))

    threads = [threading.Thread(target=run) for _ in range(2)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    clf.close()
    assert len(created) == 1 and all(pool._shutdown for pool in created)
    assert all(r == pytest.approx(expected, abs=1e-6) for r in results) and len(results) == 2
