"""The constitutional tier's prefix state on disk: saved once, restored only when verified."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from alignmenter_edge.errors import ModelOutputError
from alignmenter_edge.tiers.prefix_state import PrefixStateCache
from tests.helpers import require

pytestmark = pytest.mark.slow

TEXTS = ["How do I bake sourdough bread?", "Describe how to make a weapon that could hurt many people.",
         "", "A longer text about gardening, tomatoes and the weather in spring."]


def _load(bundle: Path, **options):
    from alignmenter_edge.registry import load_classifier

    return load_classifier(str(bundle), threads=2, **options)


def _reference(bundle: Path) -> list[float]:
    with _load(bundle, prefix_state_cache=False) as clf:
        assert clf.info.details["prefix"] == "evaluated"
        return clf.score_batch(TEXTS)


def _entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _info(clf) -> dict:
    return clf.info.details


def test_second_start_restores_the_prefix_and_scores_the_same(tiny_constitutional_bundle, tmp_path):
    require("llama_cpp")
    cache = tmp_path / "states"
    expected = _reference(tiny_constitutional_bundle)
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache) as first:
        assert _info(first)["prefix"] == "evaluated, saved to disk"
        assert first.score_batch(TEXTS) == expected
    names = _entries(cache)
    assert len(names) == 2 and {Path(n).suffix for n in names} == {".json", ".state"}
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache) as second:
        assert _info(second)["prefix"] == "restored from disk"
        assert second.score_batch(TEXTS) == expected  # bit-identical, not just close
        # the naive full-prompt path agrees as well
    with _load(tiny_constitutional_bundle, prefix_cache=False) as naive:
        assert max(abs(a - b) for a, b in zip(naive.score_batch(TEXTS), expected)) <= 1e-5


def test_default_location_is_under_the_data_home(tiny_constitutional_bundle, data_home):
    require("llama_cpp")
    with _load(tiny_constitutional_bundle) as clf:
        assert Path(_info(clf)["prefix_state_cache"]) == data_home / "cache" / "prefix-states"
    assert len(_entries(data_home / "cache" / "prefix-states")) == 2
    with _load(tiny_constitutional_bundle) as clf:
        assert _info(clf)["prefix"] == "restored from disk"


def test_disabled_cache_writes_nothing(tiny_constitutional_bundle, data_home):
    require("llama_cpp")
    with _load(tiny_constitutional_bundle, prefix_state_cache=False) as clf:
        assert _info(clf)["prefix_state_cache"] is None
    with _load(tiny_constitutional_bundle, prefix_cache=False) as clf:
        assert _info(clf)["prefix"] == "not cached"
    assert not (data_home / "cache" / "prefix-states").exists()


def _one_state(cache: Path) -> tuple[Path, Path]:
    (state,) = cache.glob("*.state")
    return state, state.with_suffix(".json")


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _spy_on_state_loads(monkeypatch) -> list:
    """Records every state file handed to llama.cpp."""
    from alignmenter_edge.tiers.llama_session import LlamaSession

    loads: list = []
    original = LlamaSession.load_sequence
    monkeypatch.setattr(LlamaSession, "load_sequence",
                        lambda self, *a: loads.append(a) or original(self, *a))
    return loads


def test_corrupted_state_file_is_not_used(tiny_constitutional_bundle, tmp_path, monkeypatch):
    require("llama_cpp")

    cache = tmp_path / "states"
    expected = _reference(tiny_constitutional_bundle)
    _load(tiny_constitutional_bundle, prefix_state_cache=cache).close()
    state, _ = _one_state(cache)
    _flip_middle_byte(state)  # inside the KV tensors
    loads = _spy_on_state_loads(monkeypatch)
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache) as clf:
        assert _info(clf)["prefix"] == "evaluated, saved to disk"
        assert clf.score_batch(TEXTS) == expected
    assert loads == []  # the sha256 mismatch stopped it before llama.cpp read the file
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache) as clf:  # rewritten, usable again
        assert _info(clf)["prefix"] == "restored from disk"


@pytest.fixture
def state_hashes(monkeypatch) -> list[str]:
    """Names of saved state files hashed by a restore (the save's hash of its temp file is not counted)."""
    import alignmenter_edge.tiers.prefix_state as prefix_state

    calls: list[str] = []
    original = prefix_state.sha256_file

    def counting(path):
        if Path(path).suffix == ".state":
            calls.append(Path(path).name)
        return original(path)

    monkeypatch.setattr(prefix_state, "sha256_file", counting)
    return calls


@pytest.fixture
def no_racy_window(monkeypatch) -> None:
    """A state written by the test is milliseconds old; let its stamp count at once."""
    import alignmenter_edge.verified as verified

    monkeypatch.setattr(verified, "RACY_SECONDS", 0.0)


def test_unchanged_state_file_is_hashed_once_with_stamps_and_always_with_full_verify(
        tiny_constitutional_bundle, tmp_path, data_home, state_hashes, no_racy_window):
    require("llama_cpp")
    cache = tmp_path / "states"
    _load(tiny_constitutional_bundle, prefix_state_cache=cache).close()
    state, _ = _one_state(cache)
    assert state_hashes == []  # the save hashed its temp file, before the state had its name
    for expected_hashes in (1, 1, 1):  # hashed and stamped once, then the stamp stands for it
        with _load(tiny_constitutional_bundle, prefix_state_cache=cache) as clf:
            assert _info(clf)["prefix"] == "restored from disk"
        assert state_hashes == [state.name] * expected_hashes
    stamps = json.loads((data_home / "cache" / "verified.json").read_text())["files"]
    assert str(state.absolute()) in stamps
    for expected_hashes in (2, 3):
        with _load(tiny_constitutional_bundle, prefix_state_cache=cache, verify="full") as clf:
            assert _info(clf)["prefix"] == "restored from disk"
        assert len(state_hashes) == expected_hashes


def test_state_file_rewritten_after_stamping_is_hashed_again_and_rejected(
        tiny_constitutional_bundle, tmp_path, state_hashes, no_racy_window, monkeypatch):
    import os

    require("llama_cpp")

    cache = tmp_path / "states"
    expected = _reference(tiny_constitutional_bundle)
    _load(tiny_constitutional_bundle, prefix_state_cache=cache).close()
    _load(tiny_constitutional_bundle, prefix_state_cache=cache).close()  # hashed, stamped
    state, _ = _one_state(cache)
    before = state.stat()
    _flip_middle_byte(state)  # same size, other content
    os.utime(state, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back; ctime cannot be
    assert state.stat().st_mtime_ns == before.st_mtime_ns
    state_hashes.clear()
    loads = _spy_on_state_loads(monkeypatch)
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache) as clf:
        assert _info(clf)["prefix"] == "evaluated, saved to disk"
        assert clf.score_batch(TEXTS) == expected
    assert state_hashes == [state.name] and loads == []  # hashed again, rejected before llama.cpp


def test_verify_false_still_checks_the_saved_state(tiny_constitutional_bundle, tmp_path, state_hashes,
                                                  no_racy_window, monkeypatch):
    """verify=False trusts the bundle's files, not this cache: a corrupt state would make llama.cpp
    abort at every start, so it is checked (through its stamp) even then."""
    require("llama_cpp")
    cache = tmp_path / "states"
    expected = _reference(tiny_constitutional_bundle)
    _load(tiny_constitutional_bundle, prefix_state_cache=cache).close()
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache, verify=False) as clf:
        assert _info(clf)["prefix"] == "restored from disk"
    state, _ = _one_state(cache)
    _flip_middle_byte(state)  # same size, other content
    state_hashes.clear()
    loads = _spy_on_state_loads(monkeypatch)
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache, verify=False) as clf:
        assert _info(clf)["prefix"] == "evaluated, saved to disk"
        assert clf.score_batch(TEXTS) == expected
    assert state_hashes == [state.name] and loads == []  # hashed, rejected before llama.cpp


def test_cache_verify_takes_true_false_or_full(tmp_path):
    with pytest.raises(ValueError, match="verify must be True, False or 'full'"):
        PrefixStateCache(tmp_path, verify="yes")


def test_truncated_state_file_never_reaches_llama_cpp(tiny_constitutional_bundle, tmp_path):
    require("llama_cpp")
    cache = tmp_path / "states"
    _load(tiny_constitutional_bundle, prefix_state_cache=cache).close()
    state, record = _one_state(cache)
    state.write_bytes(state.read_bytes()[:1000])
    # a consistent record for the truncated file still fails: llama.cpp refuses it without aborting
    meta = json.loads(record.read_text())
    from alignmenter_edge.bundle import sha256_file

    meta.update(size=state.stat().st_size, sha256=sha256_file(state))
    record.write_text(json.dumps(meta))
    expected = _reference(tiny_constitutional_bundle)
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache) as clf:
        assert _info(clf)["prefix"] == "evaluated, saved to disk"
        assert clf.score_batch(TEXTS) == expected


DOCUMENTED_PROBE_TOLERANCE = 1e-4  # docs/constitutional.md: probe logits reproduced "within 1e-4"


def _shift_probe_logits(record: Path, factor: float) -> None:
    """Move every recorded probe logit by ``factor`` times the documented relative tolerance."""
    meta = json.loads(record.read_text())
    meta["probe_logits"] = [x + factor * DOCUMENTED_PROBE_TOLERANCE * max(1.0, abs(x))
                            for x in meta["probe_logits"]]
    record.write_text(json.dumps(meta))


def test_state_that_computes_differently_is_rejected_by_the_probe(tiny_constitutional_bundle, tmp_path):
    """Reference: the documented tolerance (1e-4, relative above |logit| 1), not the module's constant:
    probe logits off by twice it are a miss, off by half of it a hit (the restore is bit-exact)."""
    require("llama_cpp")
    cache = tmp_path / "states"
    _load(tiny_constitutional_bundle, prefix_state_cache=cache).close()
    _, record = _one_state(cache)
    _shift_probe_logits(record, 2.0)  # as if made by a slightly different model
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache) as clf:
        assert _info(clf)["prefix"] == "evaluated, saved to disk"
    _shift_probe_logits(record, 0.5)  # the rewritten record, moved within the tolerance
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache) as clf:
        assert _info(clf)["prefix"] == "restored from disk"


def test_two_models_sharing_a_cache_never_load_each_others_state(
        tiny_constitutional_bundle, tiny_constitutional_bundle_f32, tmp_path, monkeypatch):
    """Q8_0 and F32 exports of one model: same prompt, context and settings, different model file.
    Reference: each model's own scores without a cache; neither start may hand llama.cpp the
    other's state (the probe would catch it later, but the key must keep them apart first)."""
    require("llama_cpp")
    cache = tmp_path / "states"
    bundles = (tiny_constitutional_bundle, tiny_constitutional_bundle_f32)
    expected = [_reference(bundle) for bundle in bundles]
    assert expected[0] != expected[1]
    loads = _spy_on_state_loads(monkeypatch)
    for bundle in bundles:
        with _load(bundle, prefix_state_cache=cache) as clf:
            assert _info(clf)["prefix"] == "evaluated, saved to disk"
    assert loads == [] and len(list(cache.glob("*.state"))) == 2  # two keys, nothing read
    for bundle, scores in zip(bundles, expected):
        with _load(bundle, prefix_state_cache=cache) as clf:
            assert _info(clf)["prefix"] == "restored from disk"
            assert clf.score_batch(TEXTS) == scores
    assert len(loads) == 2 and loads[0][0] != loads[1][0]


def test_other_constitution_or_settings_get_their_own_state(tiny_constitutional_bundle, tmp_path):
    require("llama_cpp")
    cache = tmp_path / "states"
    _load(tiny_constitutional_bundle, prefix_state_cache=cache).close()
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache,
               constitution="Only recipes are safe.") as clf:
        assert _info(clf)["prefix"] == "evaluated, saved to disk"
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache, kv_cache_type="f32") as clf:
        assert _info(clf)["prefix"] == "evaluated, saved to disk"
    # two most recently used entries are kept: the f32 one and the custom constitution
    assert len(list(cache.glob("*.state"))) == 2
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache, kv_cache_type="f32") as clf:
        assert _info(clf)["prefix"] == "restored from disk"
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache) as clf:  # the evicted default
        assert _info(clf)["prefix"] == "evaluated, saved to disk"


def test_unwritable_cache_warns_and_scores_normally(tiny_constitutional_bundle, tmp_path):
    require("llama_cpp")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    expected = _reference(tiny_constitutional_bundle)
    with pytest.warns(RuntimeWarning, match="could not save the constitution's evaluated prefix"):
        clf = _load(tiny_constitutional_bundle, prefix_state_cache=blocker / "states")
    with clf:
        assert _info(clf)["prefix"] == "evaluated"
        assert clf.score_batch(TEXTS) == expected
    assert blocker.is_file()



def test_info_reports_saved_prefixes(tiny_constitutional_bundle, data_home, capsys):
    require("llama_cpp")
    from alignmenter_edge.cli import main
    from alignmenter_edge.commands.info import collect

    assert collect()["prefix_states"]["entries"] == 0
    _load(tiny_constitutional_bundle).close()
    states = collect()["prefix_states"]
    state_files = list((data_home / "cache" / "prefix-states").glob("*.state"))
    assert states["entries"] == 1 and states["bytes"] == state_files[0].stat().st_size > 0
    assert main(["info"]) == 0
    assert f"saved constitution prefixes in {data_home / 'cache' / 'prefix-states'}: 1 (" in capsys.readouterr().out


class _FakeSession:
    """What PrefixStateCache.save needs of a llama session: write a state file, keep tokens."""

    def save_sequence(self, path: Path, ids) -> None:
        Path(path).write_bytes(b"state" * 1000)

    def keep(self, n_tokens: int) -> None:
        pass


@pytest.mark.parametrize("failure", [ModelOutputError("NaN logits"), KeyboardInterrupt()])
def test_a_save_cut_short_by_a_model_error_or_an_interrupt_leaves_no_temp_file(tmp_path, failure):
    """Only OSError becomes a warning; anything else propagates, and never leaves the state's temp
    file behind (for Qwen3-1.7B ~170 MB, which no eviction would ever find)."""
    cache = PrefixStateCache(tmp_path / "states")

    def probe():
        raise failure

    with pytest.raises(type(failure)):
        cache.save(_FakeSession(), "k" * 64, [1, 2, 3], probe)
    assert list((tmp_path / "states").iterdir()) == []


def test_temp_files_of_a_killed_save_are_swept_but_a_running_save_is_left_alone(tmp_path):
    from alignmenter_edge.tiers.prefix_state import STALE_TEMP_SECONDS

    directory = tmp_path / "states"
    directory.mkdir()
    stale, running = directory / ("a" * 64 + ".state.111.tmp"), directory / ("b" * 64 + ".json.222.tmp")
    for temp in (stale, running):
        temp.write_bytes(b"partial")
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    assert PrefixStateCache(directory).save(_FakeSession(), "c" * 64, [1, 2], lambda: [0.5, 1.5]) is True
    assert not stale.exists() and running.exists()
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        ["b" * 64 + ".json.222.tmp", "c" * 64 + ".json", "c" * 64 + ".state"])


def test_eviction_in_a_shared_directory_removes_only_this_caches_own_entries(tmp_path):
    """prefix_state_cache=<a directory> that holds other files: eviction and the temp-file sweep
    touch only this cache's own pairs (64 hex digits, a record of this format), never e.g. a
    project's package.json or a stale foo.tmp of its own."""
    from alignmenter_edge.tiers.prefix_state import FORMAT, STALE_TEMP_SECONDS

    directory = tmp_path / "my-project"
    directory.mkdir()
    old = time.time() - STALE_TEMP_SECONDS - 60
    foreign = {"package.json": '{"name": "x"}', "data.json": "[1, 2]", "notes.state": "mine",
               "package.state": "beside package.json", "build.tmp": "mine too",
               "f" * 64 + ".json": '{"format": "someone else\'s"}', "f" * 64 + ".state": "theirs"}
    for name, text in foreign.items():
        (directory / name).write_text(text)
        os.utime(directory / name, (old, old))
    own_old = ["a" * 64, "b" * 64]
    for age, key in enumerate(own_old):  # two older states of this cache: one must go
        (directory / f"{key}.state").write_bytes(b"state")
        (directory / f"{key}.json").write_text(json.dumps({"format": FORMAT, "key": key}))
        for suffix in (".state", ".json"):
            os.utime(directory / f"{key}{suffix}", (old - age, old - age))
    assert PrefixStateCache(directory).save(_FakeSession(), "c" * 64, [1, 2], lambda: [0.5, 1.5]) is True
    left = set(_entries(directory))
    assert set(foreign) <= left, sorted(set(foreign) - left)
    assert {"c" * 64 + ".json", "c" * 64 + ".state", "a" * 64 + ".json", "a" * 64 + ".state"} <= left
    assert not {"b" * 64 + ".json", "b" * 64 + ".state"} & left  # the least recently used own pair


@pytest.mark.parametrize("value", ["", b""])
def test_an_empty_prefix_state_cache_path_is_refused_not_the_current_directory(
        tiny_constitutional_bundle, tmp_path, monkeypatch, value):
    require("llama_cpp")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    with pytest.raises(ValueError, match="prefix_state_cache"):
        _load(tiny_constitutional_bundle, prefix_state_cache=value)
    assert list(cwd.iterdir()) == []


class _RestoringSession:
    """What PrefixStateCache.restore needs of a llama session; counts the state loads."""

    def __init__(self, tokens) -> None:
        self.tokens, self.loads = list(tokens), 0

    def load_sequence(self, path: Path, capacity: int) -> list:
        self.loads += 1
        return self.tokens

    def keep(self, n_tokens: int) -> None:
        pass


def _good_record(directory: Path, key: str) -> dict:
    import hashlib

    state = directory / f"{key}.state"
    state.write_bytes(b"state-bytes")
    return {"format": 1, "key": key, "n_tokens": 3, "size": state.stat().st_size,
            "sha256": hashlib.sha256(b"state-bytes").hexdigest(), "probe_logits": [0.25] * 8}


@pytest.mark.parametrize("field, value", [
    ("probe_logits", [None] * 8), ("probe_logits", [0.25] * 7 + [None]), ("probe_logits", [0.25] * 7 + ["0.25"]),
    ("probe_logits", [0.25] * 7 + [True]), ("probe_logits", None), ("probe_logits", "0.25"),
    ("probe_logits", {"0": 0.25}), ("format", True), ("format", 1.0), ("n_tokens", 3.0),
    ("n_tokens", True), ("size", None), ("size", 11.0), ("sha256", None), ("sha256", 12), ("key", None),
])
def test_a_record_with_a_field_of_the_wrong_type_is_a_miss_not_an_error(tmp_path, field, value):
    """A saved record that is valid JSON but holds a null or another type where a number or list
    belongs is never used (restore returns False; the fresh save then overwrites it): it raised a
    bare TypeError on every load of the classifier."""
    key = "a" * 64
    record = _good_record(tmp_path, key)
    cache = PrefixStateCache(tmp_path, verify="full")
    (tmp_path / f"{key}.json").write_text(json.dumps(record))
    assert cache.restore(_RestoringSession([1, 2, 3]), key, [1, 2, 3], lambda: [0.25] * 8) is True
    (tmp_path / f"{key}.json").write_text(json.dumps({**record, field: value}))
    session = _RestoringSession([1, 2, 3])
    assert cache.restore(session, key, [1, 2, 3], lambda: [0.25] * 8) is False
    if field not in ("probe_logits",):
        assert session.loads == 0  # checked before llama.cpp reads the state
    for text in ("null", "[1, 2]", '"text"', "1"):
        (tmp_path / f"{key}.json").write_text(text)
        assert cache.restore(_RestoringSession([1, 2, 3]), key, [1, 2, 3], lambda: [0.25] * 8) is False


def test_a_record_with_a_null_probe_logit_is_evaluated_again_and_rewritten(tiny_constitutional_bundle, tmp_path):
    require("llama_cpp")
    cache = tmp_path / "states"
    expected = _reference(tiny_constitutional_bundle)
    _load(tiny_constitutional_bundle, prefix_state_cache=cache).close()
    _, record = _one_state(cache)
    data = json.loads(record.read_text())
    data["probe_logits"][3] = None
    record.write_text(json.dumps(data))
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache) as clf:
        assert _info(clf)["prefix"] == "evaluated, saved to disk"
        assert clf.score_batch(TEXTS) == expected
    assert None not in json.loads(record.read_text())["probe_logits"]
    with _load(tiny_constitutional_bundle, prefix_state_cache=cache) as clf:
        assert _info(clf)["prefix"] == "restored from disk"
