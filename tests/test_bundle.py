"""Bundle manifest writing, reading and verification, on a tiny hand-made bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignmenter_edge.bundle import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    licence_summary,
    read_bundle,
    sha256_file,
    write_bundle,
)
from alignmenter_edge.errors import BundleError, BundleIntegrityError

FIELDS = dict(
    tier="roberta-onnx",
    model_id="tiny-test",
    sources=[{"role": "model", "id": "local/tiny", "revision": "abc123"}],
    labels={"names": ["SAFE", "UNSAFE"], "unsafe_index": 1},
    max_input_tokens=512,
    long_input_policy="overlapping windows; most unsafe window",
    quantization="int8-dynamic-qint8",
    tokenizer="tokenizer.json",
    parity={"fp32_max_abs_logit_diff": 1e-6},
)


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    root.mkdir()
    (root / "model.onnx").write_bytes(b"\x08\x01fake-onnx-bytes" * 100)
    (root / "tokenizer.json").write_text('{"version": "1.0"}', encoding="utf-8")
    write_bundle(root, ["model.onnx", "tokenizer.json"], **FIELDS)
    return root


def test_round_trip_records_sizes_hashes_and_fields(bundle_dir: Path) -> None:
    bundle = read_bundle(bundle_dir)
    record = bundle.manifest.files["model.onnx"]
    assert record.size == (bundle_dir / "model.onnx").stat().st_size
    assert record.sha256 == sha256_file(bundle_dir / "model.onnx")
    assert bundle.manifest.labels["unsafe_index"] == 1
    assert bundle.manifest.sources[0]["revision"] == "abc123"
    assert bundle.manifest.format_version == FORMAT_VERSION
    assert bundle.manifest.created_by.startswith("alignmenter-edge ")
    assert bundle.file("model.onnx") == bundle_dir / "model.onnx"
    assert len(bundle.digest) == 16


def test_digest_changes_when_a_file_changes(bundle_dir: Path, tmp_path: Path) -> None:
    before = read_bundle(bundle_dir).digest
    (bundle_dir / "tokenizer.json").write_text('{"version": "1.1"}', encoding="utf-8")
    write_bundle(bundle_dir, ["model.onnx", "tokenizer.json"], **FIELDS)
    assert read_bundle(bundle_dir).digest != before


def test_digest_covers_how_outputs_become_scores_not_only_the_files(bundle_dir: Path) -> None:
    """Same weights, another unsafe index or threshold: other scores, so another identity."""
    created_at = read_bundle(bundle_dir).manifest.created_at
    digests = set()
    for change in ({}, {"labels": {"unsafe_index": 0}}, {"threshold": 0.3}):
        write_bundle(bundle_dir, ["model.onnx", "tokenizer.json"], **{**FIELDS, **change, "created_at": created_at})
        digests.add(read_bundle(bundle_dir).digest)
    assert len(digests) == 3
    manifest = bundle_dir / "manifest.json"
    manifest.write_text(json.dumps(json.loads(manifest.read_text()), indent=None), encoding="utf-8")
    assert read_bundle(bundle_dir).digest in digests  # the JSON's layout is not part of it


def test_altered_file_is_a_hash_error_naming_it(bundle_dir: Path) -> None:
    data = bytearray((bundle_dir / "model.onnx").read_bytes())
    data[5] ^= 0xFF  # same size, different content
    (bundle_dir / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="sha256 of 'model.onnx'"):
        read_bundle(bundle_dir)
    read_bundle(bundle_dir, verify=False)  # size-only check passes: same size


def test_truncated_file_fails_even_without_hashing(bundle_dir: Path) -> None:
    (bundle_dir / "model.onnx").write_bytes(b"short")
    with pytest.raises(BundleIntegrityError, match="'model.onnx' has 5 bytes"):
        read_bundle(bundle_dir, verify=False)


def test_missing_file_is_named(bundle_dir: Path) -> None:
    (bundle_dir / "tokenizer.json").unlink()
    with pytest.raises(BundleIntegrityError, match="'tokenizer.json' listed in the manifest is missing"):
        read_bundle(bundle_dir)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="manifest.json is missing"):
        read_bundle(tmp_path)


def _edit_manifest(bundle_dir: Path, **changes: object) -> None:
    path = bundle_dir / MANIFEST_NAME
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": FORMAT_VERSION + 1}, "format version 2 is not supported"),
        ({"tier": "mystery-tier"}, "unknown tier 'mystery-tier'"),
        ({"format": "something-else"}, "not an alignmenter-edge bundle"),
        ({"surprise": 1}, "unknown field"),
        ({"files": {"model.onnx": {"size": "x"}}}, "malformed 'files'"),
    ],
)
def test_manifest_problems_are_clear_errors(bundle_dir: Path, changes: dict, message: str) -> None:
    _edit_manifest(bundle_dir, **changes)
    with pytest.raises(BundleError, match=message):
        read_bundle(bundle_dir)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("threshold", float("nan")),  # json writes NaN and reads it back: would flag nothing
        ("threshold", float("inf")),
        ("threshold", -1.0),          # would flag nothing
        ("threshold", 0),             # so would 0: no score is below it
        ("threshold", 2.0),           # would flag everything
        ("threshold", "0.5"),
        ("threshold", None),
        ("threshold", True),
        ("max_input_tokens", 0),
        ("max_input_tokens", -512),
        ("max_input_tokens", 512.0),
        ("max_input_tokens", "512"),
        ("max_input_tokens", True),
        ("labels", ["SAFE", "UNSAFE"]),
        ("labels", None),
        # labels.unsafe_index: int() read 0.9 and 1.9 as columns 0 and 1 (0 inverts every score)
        # and took "1" and true; null and "0x1" were a bare TypeError / ValueError at load.
        ("labels", {"names": ["SAFE", "UNSAFE"], "unsafe_index": 0.9}),
        ("labels", {"names": ["SAFE", "UNSAFE"], "unsafe_index": 1.9}),
        ("labels", {"names": ["SAFE", "UNSAFE"], "unsafe_index": 1.0}),
        ("labels", {"names": ["SAFE", "UNSAFE"], "unsafe_index": "1"}),
        ("labels", {"names": ["SAFE", "UNSAFE"], "unsafe_index": True}),
        ("labels", {"names": ["SAFE", "UNSAFE"], "unsafe_index": None}),
        ("labels", {"names": ["SAFE", "UNSAFE"], "unsafe_index": "0x1"}),
        ("labels", {"names": ["SAFE", "UNSAFE"], "unsafe_index": -1}),  # numpy would count from the end
        ("extra", []),
        ("parity", None),
        ("prompt", "judge this"),
        ("sources", {"id": "local/tiny"}),
        ("sources", None),
        ("sources", ["local/tiny"]),  # each source is an object: info and install read its fields
        ("parity", {"int8": {"label_agreement": "high", "max_abs_diff_p_unsafe": 0.1}}),
        ("parity", {"int8": {"label_agreement": 1.0}}),  # info shows it beside the largest difference
        ("parity", {"fp32": {"max_abs_diff_logit": None}}),
        ("parity", {"int8": {"label_agreement": 1.0, "max_abs_diff_p_unsafe": True}}),
    ],
)
def test_scoring_fields_of_the_wrong_type_or_range_are_refused(bundle_dir: Path, field: str,
                                                                value: object) -> None:
    _edit_manifest(bundle_dir, **{field: value})
    with pytest.raises(BundleError, match=rf"manifest.json: field '{field}' is .*; it must be .*re-export"):
        read_bundle(bundle_dir)
    if isinstance(value, dict) and "unsafe_index" in value:
        with pytest.raises(BundleError, match=r"unsafe_index.*non-negative integer"):
            read_bundle(bundle_dir)


@pytest.mark.parametrize(("field", "value"), [("threshold", 1e-9), ("threshold", 1), ("threshold", 0.3),
                                              ("prompt", None), ("max_input_tokens", 1),
                                              ("labels", {"names": ["UNSAFE", "SAFE"], "unsafe_index": 0}),
                                              ("labels", {"unsafe_index": 7}),  # vs the model: at load
                                              # a constitutional bundle's labels: words and token ids
                                              ("labels", {"safe": {"word": "safe", "token_id": 591},
                                                          "unsafe": {"word": "unsafe", "token_id": 594}})])
def test_scoring_fields_at_their_limits_are_read(bundle_dir: Path, field: str, value: object) -> None:
    _edit_manifest(bundle_dir, **{field: value})
    assert getattr(read_bundle(bundle_dir).manifest, field) == value


def test_required_field_missing(bundle_dir: Path) -> None:
    path = bundle_dir / MANIFEST_NAME
    data = json.loads(path.read_text())
    del data["labels"]
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="lacks required field.*labels"):
        read_bundle(bundle_dir)


@pytest.mark.parametrize(("name", "problem"), [
    ("../outside.bin", "has an empty, '.' or '..' part"),
    ("sub/../../outside.bin", "has an empty, '.' or '..' part"),
    ("./model.onnx", "has an empty, '.' or '..' part"),
    ("sub//model.onnx", "has an empty, '.' or '..' part"),
    ("sub/", "has an empty, '.' or '..' part"),
    ("", "is empty"),
    ("/etc/passwd", "is absolute"),
    ("sub\\..\\..\\outside.bin", "holds a NUL or a backslash"),
    ("model\0.onnx", "holds a NUL or a backslash"),
    ("model\udcff.onnx", "is not valid Unicode"),  # JSON can spell a lone surrogate
    ("manifest.json", "is the manifest itself"),
])
def test_manifest_file_names_are_relative_paths_inside_the_bundle(bundle_dir: Path, tmp_path: Path,
                                                                  name: str, problem: str) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"x")
    path = bundle_dir / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["files"][name] = {"size": 1, "sha256": sha256_file(outside)}
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=rf"manifest file name .* {problem}; a bundle lists only relative"):
        read_bundle(bundle_dir)


def test_a_symlink_out_of_the_bundle_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    outside = tmp_path / "elsewhere" / "outside.bin"
    outside.write_bytes(b"x")
    (bundle_dir / "link").symlink_to(tmp_path / "elsewhere")
    path = bundle_dir / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["files"]["link/outside.bin"] = {"size": 1, "sha256": sha256_file(outside)}
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="'link/outside.bin' points outside the bundle"):
        read_bundle(bundle_dir)


def test_not_json(bundle_dir: Path) -> None:
    (bundle_dir / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        read_bundle(bundle_dir)


def test_writer_refuses_missing_artifact(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        write_bundle(tmp_path, ["model.onnx"], **FIELDS)
    assert not (tmp_path / MANIFEST_NAME).exists()


@pytest.fixture
def hash_calls(monkeypatch) -> list[str]:
    """Names of the files read_bundle hashes (sha256_file wrapped)."""
    import alignmenter_edge.bundle as bundle_module

    calls: list[str] = []
    original = bundle_module.sha256_file
    monkeypatch.setattr(bundle_module, "sha256_file", lambda path: calls.append(Path(path).name) or original(path))
    return calls


@pytest.fixture
def no_racy_window(monkeypatch) -> None:
    """Files made by the test are seconds old; let their stamps count at once."""
    import alignmenter_edge.verified as verified

    monkeypatch.setattr(verified, "RACY_SECONDS", 0.0)


def test_unchanged_files_are_hashed_once(bundle_dir: Path, hash_calls, no_racy_window, data_home) -> None:
    read_bundle(bundle_dir)
    assert sorted(hash_calls) == ["model.onnx", "tokenizer.json"]
    assert (data_home / "cache" / "verified.json").is_file()
    hash_calls.clear()
    read_bundle(bundle_dir)
    assert hash_calls == []
    read_bundle(bundle_dir, verify="full")
    assert sorted(hash_calls) == ["model.onnx", "tokenizer.json"]


def test_file_altered_behind_a_restored_mtime_is_still_caught(bundle_dir: Path, no_racy_window) -> None:
    import os

    read_bundle(bundle_dir)  # stamps recorded
    model = bundle_dir / "model.onnx"
    before = model.stat()
    data = bytearray(model.read_bytes())
    data[10] ^= 0xFF  # same size, other content
    model.write_bytes(bytes(data))
    os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back; ctime cannot be
    assert model.stat().st_mtime_ns == before.st_mtime_ns
    with pytest.raises(BundleIntegrityError, match="sha256 of 'model.onnx'"):
        read_bundle(bundle_dir)


def _change_times(bundle_dir: Path, newer: str) -> list[float]:
    """Make each bundle file's mtime ('mtime') or its ctime, the real clock's ('ctime'), its
    latest change; returns each file's latest change time."""
    import os
    import time

    moved = time.time() + (1000.0 if newer == "mtime" else -1000.0)
    for path in bundle_dir.iterdir():
        os.utime(path, (moved, moved))
    return [max(st.st_mtime, st.st_ctime) for st in (path.stat() for path in bundle_dir.iterdir())]


@pytest.mark.parametrize("newer", ["mtime", "ctime"])
def test_files_changed_in_the_last_seconds_are_not_stamped(bundle_dir: Path, hash_calls, monkeypatch,
                                                           newer: str) -> None:
    """A file changed (content or metadata) less than the documented 2 s before it was hashed gets
    no stamp: a change within the file system's clock resolution could go unseen. An older one
    gets one. The clock the stamps read is set relative to the files' change times."""
    from types import SimpleNamespace

    import alignmenter_edge.verified as verified

    changes = _change_times(bundle_dir, newer)
    clock = [min(changes) + 1.9]
    monkeypatch.setattr(verified, "time", SimpleNamespace(time=lambda: clock[0]))
    read_bundle(bundle_dir)
    read_bundle(bundle_dir)
    assert len(hash_calls) == 4  # racily new: hashed both times
    clock[0] = max(changes) + 2.1
    hash_calls.clear()
    read_bundle(bundle_dir)
    read_bundle(bundle_dir)
    assert sorted(hash_calls) == ["model.onnx", "tokenizer.json"]  # stamped once, then trusted


def test_unreadable_stamps_mean_hashing(bundle_dir: Path, hash_calls, no_racy_window, data_home) -> None:
    (data_home / "cache").mkdir(parents=True)
    (data_home / "cache" / "verified.json").write_text("{not json", encoding="utf-8")
    read_bundle(bundle_dir)
    assert len(hash_calls) == 2
    hash_calls.clear()
    read_bundle(bundle_dir)  # the broken file was replaced by a good one
    assert hash_calls == []


@pytest.mark.parametrize("verify", ["yes", 1, 0, 1.0, None])
def test_verify_takes_true_false_or_full(bundle_dir: Path, verify: object) -> None:
    """1 and 0 equal True and False, so they passed the check and then meant whatever each test of
    the mode made of them; a mode is True, False or "full", nothing that equals one."""
    with pytest.raises(ValueError, match="verify must be True, False or 'full'"):
        read_bundle(bundle_dir, verify=verify)
    for mode in (True, False, "full"):
        read_bundle(bundle_dir, verify=mode)


def test_licence_summary_names_every_source_and_never_hides_a_missing_licence() -> None:
    sources = [{"role": "base", "license": "apache-2.0"}, {"role": "adapter", "license": None},
               {"id": "no role", "license": ""}]
    assert licence_summary(sources) == "base apache-2.0, adapter unknown, source unknown"
    assert licence_summary([]) == "not recorded"


def test_the_format_document_describes_every_manifest_field() -> None:
    import dataclasses

    from alignmenter_edge.bundle import Manifest

    document = (Path(__file__).resolve().parents[1] / "docs" / "bundle.md").read_text(encoding="utf-8")
    assert f"# The bundle format (version {FORMAT_VERSION})" in document
    undocumented = [f.name for f in dataclasses.fields(Manifest) if f"| `{f.name}` |" not in document]
    assert undocumented == []
