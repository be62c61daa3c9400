"""The licence a source model states, recorded in the bundle so whoever copies it knows the terms.

A bundle carries (quantized) weights, so the terms of every source model travel with it. The
licence is read from the model card's front matter (``README.md``, ``license:`` plus
``license_name`` / ``license_link`` for custom terms, as on the Hugging Face hub); when the card
states none, from the model spec (``license:`` next to a source id); otherwise it is recorded as
unknown and the export says so. The card wins over the spec: it is the model owner's statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

CARD_NAME = "README.md"


@dataclass(frozen=True)
class ModelLicence:
    """A source model's licence and where it was found (``model card``, ``model spec``, ``unknown``)."""

    license: str | None
    found_in: str
    name: str | None = None
    link: str | None = None

    def record(self) -> dict[str, Any]:
        """Fields for the bundle manifest's source entry."""
        fields: dict[str, Any] = {"license": self.license, "license_from": self.found_in}
        if self.name:
            fields["license_name"] = self.name
        if self.link:
            fields["license_link"] = self.link
        return fields

    def warning(self, source: str) -> str | None:
        """What the export should tell its user, or None when the terms are known."""
        if self.license is None:
            return (f"{source}: no licence found (its model card states none and the model spec "
                    "declares none); check the model page before copying the bundle elsewhere.")
        return None


def card_licence(text: str) -> ModelLicence | None:
    """The licence stated in a model card's YAML front matter, or None if it states none."""
    import yaml  # base dependency

    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    try:
        meta = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return None
    if not isinstance(meta, dict) or not meta.get("license"):
        return None
    value = meta["license"]
    licence = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return ModelLicence(licence, "model card", _text_or_none(meta.get("license_name")),
                        _text_or_none(meta.get("license_link")))


def resolve_licence(source: str, *, revision: str | None = None, declared: str | None = None,
                    local_files_only: bool = True,
                    log: Callable[[str], None] = lambda _: None) -> ModelLicence:
    """The licence of ``source`` (a local directory or a hub id): card, else spec, else unknown
    (then ``log`` gets a warning).

    For a hub id the card is looked up in the local Hugging Face cache, and fetched only when
    ``local_files_only`` is False; a card that cannot be had is simply not used.
    """
    card = _find_card(source, revision=revision, local_files_only=local_files_only)
    if card is not None:
        try:
            found = card_licence(card.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            found = None
        if found is not None:
            return found
    if declared:
        return ModelLicence(str(declared), "model spec")
    unknown = ModelLicence(None, "unknown")
    log("warning: " + unknown.warning(source))
    return unknown


def _find_card(source: str, *, revision: str | None, local_files_only: bool) -> Path | None:
    local = Path(source).expanduser()
    if local.is_dir():
        card = local / CARD_NAME
        return card if card.is_file() else None
    try:
        import huggingface_hub as hub

        if local_files_only:
            # A pure cache lookup: hf_hub_download(local_files_only=True) still builds request
            # headers, and huggingface_hub 2.x fetches a registry over the network to do that.
            cached = hub.try_to_load_from_cache(source, CARD_NAME, revision=revision)
            return Path(cached) if isinstance(cached, str) else None
        return Path(hub.hf_hub_download(source, CARD_NAME, revision=revision))
    except Exception:  # offline, no card, no huggingface_hub, bad repo id: the card is optional
        return None


def _text_or_none(value: Any) -> str | None:
    return str(value) if value else None
