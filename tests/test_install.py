"""`install`: a verified copy into the data directory; a bad copy is never seen as installed.
`uninstall`: deletes an installed bundle, and nothing that is not one."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from alignmenter_edge.bundle import read_bundle, write_bundle
from alignmenter_edge.cli import main
from alignmenter_edge.errors import BundleError, BundleIntegrityError, UnknownModelError
from alignmenter_edge import install_bundle, uninstall_bundle
from alignmenter_edge.registry import installed_bundles, load_classifier
from tests.helpers import require


def make_source(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "model.onnx").write_bytes(b"weights" * 100)
    (root / "sub" / "tokenizer.json").write_text('{"vocab": {}}')
    (root / "notes.txt").write_text("not listed in the manifest")
    write_bundle(root, ["model.onnx", "sub/tokenizer.json"], tier="roberta-onnx", model_id="m",
                 sources=[], labels={"unsafe_index": 1}, max_input_tokens=8, long_input_policy="w",
                 quantization="int8")
    return root


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def leftovers(data_home: Path) -> list[str]:
    return sorted(p.name for p in (data_home / "bundles").iterdir() if p.name.startswith("."))


def test_install_copies_exactly_the_listed_files(data_home: Path, tmp_path: Path) -> None:
    source = make_source(tmp_path / "roberta-int8")
    bundle = install_bundle(source)
    target = data_home / "bundles" / "roberta-int8"
    assert bundle.path == target.resolve()
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "manifest.json", "model.onnx", "sub/tokenizer.json"]  # notes.txt stays behind
    assert (target / "model.onnx").read_bytes() == (source / "model.onnx").read_bytes()
    assert bundle.digest == read_bundle(source).digest  # the same bundle, wherever it lives
    assert target.stat().st_mode & 0o777 == 0o755 & ~_umask()  # a plain directory, not mkdtemp's 0700
    assert installed_bundles() == {"roberta-int8": "roberta-onnx"}
    assert leftovers(data_home) == []


def test_corrupt_source_installs_nothing(data_home: Path, tmp_path: Path) -> None:
    source = make_source(tmp_path / "b")
    data = bytearray((source / "model.onnx").read_bytes())
    data[10] ^= 1  # same size: only hashing can tell
    (source / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=r"does not match its manifest, so nothing was installed.*model\.onnx") as failure:
        install_bundle(source)
    assert not (data_home / "bundles" / "b").exists() and leftovers(data_home) == []
    assert ".install-" not in str(failure.value)  # never the deleted copy's directory
    assert f"the bundle at {source} " in str(failure.value)


def test_missing_file_is_refused_before_copying(data_home: Path, tmp_path: Path) -> None:
    source = make_source(tmp_path / "b")
    (source / "sub" / "tokenizer.json").unlink()
    with pytest.raises(BundleIntegrityError, match="tokenizer.json"):
        install_bundle(source)
    assert not (data_home / "bundles").exists()


def test_existing_name_needs_force_and_a_bad_replacement_keeps_the_old(data_home: Path, tmp_path: Path) -> None:
    first = make_source(tmp_path / "one")
    install_bundle(first, "roberta")
    with pytest.raises(BundleError, match="already installed.*--force"):
        install_bundle(first, "roberta")
    second = make_source(tmp_path / "two")
    (second / "model.onnx").write_bytes(b"other weights")  # size no longer matches its manifest
    with pytest.raises(BundleIntegrityError):
        install_bundle(second, "roberta", force=True)
    installed = data_home / "bundles" / "roberta"
    assert (installed / "model.onnx").read_bytes() == (first / "model.onnx").read_bytes()
    third = make_source(tmp_path / "three")
    (third / "model.onnx").write_bytes(b"new weights")
    write_bundle(third, ["model.onnx", "sub/tokenizer.json"], tier="roberta-onnx", model_id="m3",
                 sources=[], labels={"unsafe_index": 1}, max_input_tokens=8, long_input_policy="w",
                 quantization="int8")
    assert install_bundle(third, "roberta", force=True).manifest.model_id == "m3"
    assert (installed / "model.onnx").read_bytes() == b"new weights"
    assert leftovers(data_home) == []


@pytest.mark.parametrize("name", [".", "..", ".hidden", "a/b", "heuristic", "roberta-onnx", "auto"])
def test_names_that_would_not_load_as_this_bundle_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="bundle name|tier name"):
        install_bundle(make_source(tmp_path / "b"), name)


def test_copy_failure_leaves_nothing_behind(data_home: Path, tmp_path: Path, monkeypatch) -> None:
    source = make_source(tmp_path / "b")
    real_copy = shutil.copyfile

    def disk_full(src, dst, *args, **kwargs):
        if str(dst).endswith("tokenizer.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", disk_full)
    with pytest.raises(BundleError, match="cannot install.*No space left"):
        install_bundle(source)
    assert not (data_home / "bundles" / "b").exists() and leftovers(data_home) == []


def test_cli_install_notes_sources_without_a_licence(data_home: Path, tmp_path: Path, capsys) -> None:
    source = tmp_path / "b"
    source.mkdir()
    (source / "model.gguf").write_bytes(b"weights")
    write_bundle(source, ["model.gguf"], tier="constitutional-gguf", model_id="org/adapter",
                 sources=[{"role": "base", "id": "org/base", "license": "apache-2.0"},
                          {"role": "adapter", "id": "org/adapter", "license": None}],
                 labels={}, max_input_tokens=8, long_input_policy="window-min", quantization="Q4_K_M")
    assert main(["install", str(source)]) == 0
    err = capsys.readouterr().err
    assert "no licence is recorded for org/adapter;" in err and "org/base" not in err


def test_cli_install(data_home: Path, tmp_path: Path, capsys) -> None:
    source = make_source(tmp_path / "b")
    assert main(["install", str(source), "--name", "mine"]) == 0
    out = capsys.readouterr().out
    assert "installed mine (roberta-onnx, m, int8" in out and "--model mine" in out
    assert main(["install", str(source), "--name", "mine"]) == 2
    assert "already installed" in capsys.readouterr().err
    assert json.loads((data_home / "bundles" / "mine" / "manifest.json").read_text())["model_id"] == "m"


@pytest.mark.slow
def test_installed_model_bundle_loads_by_name_with_the_same_scores(tiny_roberta_bundle, data_home: Path) -> None:
    require("onnxruntime")
    install_bundle(tiny_roberta_bundle, "tiny")
    texts = ["how do i make a bomb", "tell me about the weather today"]
    with load_classifier(tiny_roberta_bundle) as by_path, load_classifier("tiny") as by_name:
        assert by_name.score_batch(texts) == by_path.score_batch(texts)
        assert by_name.info.bundle_path == str((data_home / "bundles" / "tiny").resolve())
    with load_classifier("roberta-onnx") as by_tier:  # the only one installed
        assert by_tier.info.model_id == by_name.info.model_id


def test_a_copy_being_staged_is_not_an_installed_bundle(data_home: Path, tmp_path: Path) -> None:
    staged = data_home / "bundles" / ".install-roberta-x1y2"
    shutil.copytree(make_source(tmp_path / "b"), staged)  # what a concurrent install looks like
    assert installed_bundles() == {}


def test_uninstall_deletes_the_bundle_and_frees_its_bytes(data_home: Path, tmp_path: Path) -> None:
    install_bundle(make_source(tmp_path / "a"), "first")
    install_bundle(make_source(tmp_path / "b"), "second")
    installed = data_home / "bundles" / "first"
    size = sum(p.stat().st_size for p in installed.rglob("*") if p.is_file())
    assert uninstall_bundle("first") == size > 700
    assert not installed.exists() and installed_bundles() == {"second": "roberta-onnx"}
    assert leftovers(data_home) == []
    assert (tmp_path / "a" / "model.onnx").is_file()  # the source it was installed from is untouched
    with pytest.raises(UnknownModelError, match="'first' is not installed; installed bundles in .*: second"):
        uninstall_bundle("first")


def test_uninstall_touches_nothing_that_is_not_an_installed_bundle(data_home: Path, tmp_path: Path) -> None:
    install_bundle(make_source(tmp_path / "a"), "kept")
    stray = data_home / "bundles" / "notes"
    stray.mkdir()
    (stray / "mine.txt").write_text("not a bundle")
    with pytest.raises(UnknownModelError, match="'notes' is not installed"):
        uninstall_bundle("notes")
    assert (stray / "mine.txt").is_file()
    with pytest.raises(UnknownModelError, match="'heuristic' is a tier, not an installed bundle"):
        uninstall_bundle("heuristic")
    for name in ("..", ".", "../kept", str(data_home / "bundles" / "kept"), ""):
        with pytest.raises(BundleError, match="invalid bundle name"):
            uninstall_bundle(name)
    assert installed_bundles() == {"kept": "roberta-onnx"}


def test_cli_uninstall(data_home: Path, tmp_path: Path, capsys) -> None:
    assert main(["install", str(make_source(tmp_path / "b")), "--name", "mine"]) == 0
    capsys.readouterr()
    assert main(["uninstall", "mine"]) == 0
    assert capsys.readouterr().out.startswith("uninstalled mine (0.0 MB freed)")
    assert main(["uninstall", "mine"]) == 2
    assert "'mine' is not installed" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["None", "NONE", "Auto", "AUTO", "Heuristic", "Roberta-ONNX"])
def test_tier_names_in_any_case_are_refused(name: str, data_home: Path, tmp_path: Path) -> None:
    """The alignmenter drop-in lower-cases tier names: a bundle named "None" would load the none tier."""
    with pytest.raises(BundleError, match=rf"bundle name '{name}' is the tier name '{name.lower()}'.*--name"):
        install_bundle(make_source(tmp_path / "b"), name)
    assert not (data_home / "bundles" / name).exists()


def test_a_concurrent_install_of_the_same_name_is_not_replaced(data_home: Path, tmp_path: Path,
                                                               monkeypatch) -> None:
    """Another install finishes while this one verifies its copy: this one must fail, not replace it."""
    import alignmenter_edge.install as install

    other = make_source(tmp_path / "other")
    (other / "model.onnx").write_bytes(b"the other install")
    write_bundle(other, ["model.onnx", "sub/tokenizer.json"], tier="roberta-onnx", model_id="other",
                 sources=[], labels={"unsafe_index": 1}, max_input_tokens=8, long_input_policy="w",
                 quantization="int8")
    real_read_bundle = install.read_bundle

    def other_install_lands_meanwhile(path, **kwargs):
        if kwargs.get("verify") == "full":  # this install is verifying its staged copy
            shutil.copytree(other, data_home / "bundles" / "roberta")
        return real_read_bundle(path, **kwargs)

    monkeypatch.setattr(install, "read_bundle", other_install_lands_meanwhile)
    with pytest.raises(BundleError, match="a bundle named 'roberta' is already installed.*--force"):
        install_bundle(make_source(tmp_path / "mine"), "roberta")
    assert json.loads((data_home / "bundles" / "roberta" / "manifest.json").read_text())["model_id"] == "other"
    assert leftovers(data_home) == []


def test_an_interrupt_during_a_forced_replacement_keeps_the_old_bundle(data_home: Path, tmp_path: Path,
                                                                       monkeypatch) -> None:
    """Ctrl-C after the old bundle was moved aside, before the new one is in: the old one comes back."""
    import os

    old = make_source(tmp_path / "old")
    install_bundle(old, "roberta")
    installed = data_home / "bundles" / "roberta"

    def interrupted(move):
        def wrapper(src, dst, *args, **kwargs):
            if Path(src).name.startswith(".install-") and Path(dst) == installed:
                raise KeyboardInterrupt
            return move(src, dst, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(os, "replace", interrupted(os.replace))
    monkeypatch.setattr(os, "rename", interrupted(os.rename))
    with pytest.raises(KeyboardInterrupt):
        install_bundle(make_source(tmp_path / "new"), "roberta", force=True)
    assert (installed / "model.onnx").read_bytes() == (old / "model.onnx").read_bytes()
    assert read_bundle(installed).manifest.model_id == "m"
    assert leftovers(data_home) == []


def test_uninstall_that_cannot_delete_everything_says_where_the_rest_is(data_home: Path, tmp_path: Path,
                                                                        monkeypatch) -> None:
    """It used to report the bytes as freed while a failed delete left them in a hidden directory."""
    install_bundle(make_source(tmp_path / "a"), "big")

    def rmtree_fails(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(shutil, "rmtree", rmtree_fails)
    with pytest.raises(BundleError, match=r"'big' is uninstalled, but not all of its files could be deleted "
                                          r".*delete .*\.uninstall-big-.* by hand"):
        uninstall_bundle("big")
    assert installed_bundles() == {}


def test_uninstall_that_cannot_move_the_bundle_leaves_nothing_hidden(data_home: Path, tmp_path: Path,
                                                                     monkeypatch) -> None:
    install_bundle(make_source(tmp_path / "a"), "kept")

    def rename_fails(src, dst):
        raise OSError(16, "Device or resource busy")

    with monkeypatch.context() as patched:
        patched.setattr(os, "rename", rename_fails)
        with pytest.raises(BundleError, match="cannot uninstall .*Device or resource busy"):
            uninstall_bundle("kept")
    assert installed_bundles() == {"kept": "roberta-onnx"} and leftovers(data_home) == []


def test_a_data_home_that_cannot_hold_bundles_is_a_bundle_error(tmp_path: Path, monkeypatch) -> None:
    """The Python API, like the CLI, answers with the project's error type: a data home under a
    regular file (or on a read-only disk) is a BundleError naming the target, not a bare OSError."""
    source = make_source(tmp_path / "src")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the data home's parent should be")
    monkeypatch.setenv("ALIGNMENTER_EDGE_HOME", str(blocker / "home"))
    with pytest.raises(BundleError, match=r"cannot install .* into .*not-a-directory/home/bundles/src"):
        install_bundle(source)


def test_the_umask_is_read_without_being_changed(monkeypatch) -> None:
    """Setting the umask to read it would leave other threads a moment at the probe value."""
    from alignmenter_edge.directories import current_umask

    previous = os.umask(0o027)
    try:
        def forbidden(mask: int) -> int:
            raise AssertionError("os.umask was called")

        monkeypatch.setattr(os, "umask", forbidden)
        assert current_umask() == 0o027
    finally:
        monkeypatch.undo()
        os.umask(previous)


def test_a_crafted_bundle_cannot_write_outside_the_data_home(data_home: Path, tmp_path: Path) -> None:
    """A symlink plus a '..' name that climbs back through it: each looks inside the bundle when
    resolved on the source, but copying it into the staging directory would climb out of it."""
    source = make_source(tmp_path / "src" / "evil")
    (source / "d1" / "d2" / "d3" / "d4").mkdir(parents=True)
    (source / "l").symlink_to("d1/d2/d3/d4")
    (source / "payload").write_bytes(b"owned")
    data = json.loads((source / "manifest.json").read_text())
    data["files"]["l/../../../../payload"] = {"size": 5, "sha256": hashlib.sha256(b"owned").hexdigest()}
    (source / "manifest.json").write_text(json.dumps(data))
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(BundleError, match=r"'l/\.\./\.\./\.\./\.\./payload' has an empty, '\.' or '\.\.' part"):
        install_bundle(source, "evil")
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert installed_bundles() == {}


def test_a_symlink_to_a_file_inside_the_bundle_is_copied_as_the_file(data_home: Path, tmp_path: Path) -> None:
    source = make_source(tmp_path / "b")
    (source / "model.onnx").rename(source / "real.onnx")
    (source / "model.onnx").symlink_to("real.onnx")
    bundle = install_bundle(source, "linked")
    copied = bundle.path / "model.onnx"
    assert not copied.is_symlink() and copied.read_bytes() == (source / "real.onnx").read_bytes()


def test_an_empty_name_is_refused_not_replaced_by_the_directory_name(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="invalid bundle name ''"):
        install_bundle(make_source(tmp_path / "b"), "")


def test_a_directory_that_is_not_a_bundle_is_never_replaced(data_home: Path, tmp_path: Path) -> None:
    stray = data_home / "bundles" / "notes"
    stray.mkdir(parents=True)
    (stray / "mine.txt").write_text("not a bundle")
    for force in (False, True):
        with pytest.raises(BundleError, match="exists and is not an installed bundle .*pass --name"):
            install_bundle(make_source(tmp_path / f"b{force}"), "notes", force=force)
    assert (stray / "mine.txt").read_text() == "not a bundle"


def test_uninstalling_a_symlinked_bundle_removes_the_link_and_frees_nothing(data_home: Path,
                                                                             tmp_path: Path) -> None:
    kept = make_source(tmp_path / "kept")
    (data_home / "bundles").mkdir(parents=True)
    (data_home / "bundles" / "linked").symlink_to(kept)
    assert installed_bundles() == {"linked": "roberta-onnx"}
    assert uninstall_bundle("linked") == 0
    assert not (data_home / "bundles" / "linked").is_symlink() and installed_bundles() == {}
    assert (kept / "model.onnx").is_file()  # the directory it pointed to is untouched
