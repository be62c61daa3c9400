"""Parity probe texts, shared by both exports: the built-in set, or the caller's texts.

``--probes FILE`` holds one probe per line; a line that starts with ``{`` is a JSON object with a
``"text"`` string (JSONL), every other non-blank line is the text itself. A probe set is never
empty: an empty file or list is an error, not a silent fallback to the built-in probes, so the
manifest's ``parity.probe_set`` says which texts were really measured.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

from ..errors import ExportError

BUILT_IN = "built-in"
CALLER_SUPPLIED = "caller-supplied"


def read_probe_file(path: str | os.PathLike[str]) -> list[str]:
    """The probe texts of ``path`` (plain lines and/or JSONL ``{"text": ...}`` lines)."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().split("\n")  # not splitlines(): U+2028 or a form feed is text
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"cannot read the probe file {path} ({exc}).") from exc
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                row, reason = None, f"invalid JSON: {exc}"
            else:
                reason = "no \"text\" string in it"
            if not (isinstance(row, dict) and isinstance(row.get("text"), str)):
                raise ExportError(
                    f"{path} line {number}: starts with '{{' but is not a JSON object with a \"text\" "
                    f"string ({reason}). Write JSONL lines as {{\"text\": \"...\"}}; a plain-text probe "
                    "that starts with '{' must be written that way too.")
            texts.append(row["text"])
        else:
            texts.append(line)
    if not texts:
        raise ExportError(f"the probe file {path} holds no probe texts; put one text per line in it, "
                          "or leave --probes out to use the built-in probes.")
    return texts


def choose_probes(probes: Sequence[str] | None, built_in: Sequence[str]) -> tuple[list[str], str]:
    """``(texts, probe_set)``: the caller's probes, or the built-in ones when none are given."""
    if probes is None:
        return list(built_in), BUILT_IN
    texts = [str(text) for text in probes]
    if not texts:
        raise ExportError("the probe list is empty (an empty --probes file?); give at least one probe "
                          "text, or leave --probes out to use the built-in probes.")
    return texts, CALLER_SUPPLIED
