"""Source licences in bundles: read from the model card, else the spec, else recorded as unknown."""

from __future__ import annotations

import json

import pytest

from alignmenter_edge.export.model_licence import ModelLicence, card_licence, resolve_licence
from tests.helpers import block_network, require


@pytest.mark.parametrize("card, expected", [
    ("---\nlicense: apache-2.0\nlanguage: en\n---\n# Model\n", ("apache-2.0", None, None)),
    ("---\nlicense: other\nlicense_name: qwen-research\nlicense_link: https://example.org/LICENSE\n---\n",
     ("other", "qwen-research", "https://example.org/LICENSE")),
    ("---\nlicense:\n- mit\n- cc-by-4.0\n---\n", ("mit, cc-by-4.0", None, None)),
])
def test_card_front_matter_licence(card, expected):
    found = card_licence(card)
    assert found is not None and found.found_in == "model card"
    assert (found.license, found.name, found.link) == expected


@pytest.mark.parametrize("card", [
    "# Model\n\nlicense: apache-2.0 (in the prose, not the front matter)\n",
    "---\nbase_model: x/y\nlibrary_name: peft\n---\n",   # PEFT's own card: no licence
    "---\nlicense: [unclosed\n---\n",                     # malformed YAML
    "---\nlicense: apache-2.0\n",                         # front matter never closed
    "---\n- a list, not a mapping\n---\n",
])
def test_card_without_a_readable_licence(card):
    assert card_licence(card) is None


def test_card_wins_over_the_spec(tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n", encoding="utf-8")
    assert resolve_licence(str(tmp_path), declared="apache-2.0") == ModelLicence("mit", "model card")


def test_spec_declaration_when_the_card_states_none(tmp_path):
    assert resolve_licence(str(tmp_path), declared="apache-2.0") == ModelLicence("apache-2.0", "model spec")
    (tmp_path / "README.md").write_text("---\nlibrary_name: peft\n---\n", encoding="utf-8")
    assert resolve_licence(str(tmp_path), declared="apache-2.0").found_in == "model spec"


def test_unknown_licence_is_recorded_and_warned(tmp_path):
    licence = resolve_licence(str(tmp_path))
    assert licence.record() == {"license": None, "license_from": "unknown"}
    assert "check the model page" in licence.warning(str(tmp_path))
    assert resolve_licence(str(tmp_path), declared="mit").warning(str(tmp_path)) is None


def test_uncached_hub_id_never_goes_online(monkeypatch):
    """With local_files_only (the default) a hub id not in the cache falls back to the spec."""
    attempts = block_network(monkeypatch)
    found = resolve_licence("alignmenter-edge-tests/no-such-model", declared="apache-2.0")
    assert found == ModelLicence("apache-2.0", "model spec")
    assert resolve_licence("alignmenter-edge-tests/no-such-model").license is None
    assert attempts == []


def test_record_keeps_custom_terms():
    record = ModelLicence("other", "model card", "custom", "https://example.org/l").record()
    assert json.loads(json.dumps(record)) == {"license": "other", "license_from": "model card",
                                              "license_name": "custom", "license_link": "https://example.org/l"}


def test_hub_id_card_is_read_from_the_local_cache(tmp_path, monkeypatch):
    """A hub id whose card is in the Hugging Face cache (hub layout: refs/main → snapshot)."""
    hub = require("huggingface_hub")
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--example-org--tiny-model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n")
    monkeypatch.setattr(hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert resolve_licence("example-org/tiny-model", declared="mit") == ModelLicence("cc-by-4.0", "model card")
    assert resolve_licence("example-org/tiny-model", revision="v2", declared="mit").found_in == "model spec"
