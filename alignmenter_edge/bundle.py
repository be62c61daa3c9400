"""The bundle format shared by every export: a directory with artifacts and ``manifest.json``.

The export stage writes bundles (:func:`write_bundle`); the runtime reads them
(:func:`read_bundle`), verifying every file's size and sha256 before a model is loaded.
Only JSON and the standard library are used, so a bundle can be inspected anywhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ._version import __version__
from .errors import BundleError, BundleIntegrityError, UnsupportedBundleError
from .thresholds import THRESHOLD_RULE, is_valid_threshold
from .values import is_integer
from .verified import VerifiedFiles, check_verify_mode

FORMAT_NAME = "alignmenter-edge-bundle"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
BUNDLE_TIERS = ("roberta-onnx", "constitutional-gguf")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileRecord:
    """Size and sha256 of one artifact, as recorded at export time."""

    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """Everything needed to run and audit a bundle, without guessing.

    ``labels`` states explicitly which output means *unsafe* (for a sequence classifier
    ``{"names": [...], "unsafe_index": i}``; for a prompt classifier the label words and their
    token ids). ``prompt`` holds template, constitution and label words for prompt-based models.
    ``threshold`` is the safety score below which a text is flagged unsafe.
    """

    tier: str
    model_id: str
    sources: list[dict[str, Any]]
    files: dict[str, FileRecord]
    labels: dict[str, Any]
    max_input_tokens: int
    long_input_policy: str
    quantization: str
    tokenizer: str | None = None
    prompt: dict[str, Any] | None = None
    parity: dict[str, Any] = field(default_factory=dict)
    threshold: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)
    created_by: str = f"alignmenter-edge {__version__}"
    created_at: str = ""
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["files"] = {name: dataclasses.asdict(rec) for name, rec in sorted(self.files.items())}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: Path) -> "Manifest":
        fmt = data.get("format")
        version = data.get("format_version")
        tier = data.get("tier")
        declared_tier = tier if isinstance(tier, str) and tier else None
        if fmt != FORMAT_NAME:
            raise BundleError(f"{where}: not an alignmenter-edge bundle manifest (format={fmt!r}).")
        if version != FORMAT_VERSION:
            raise UnsupportedBundleError(
                f"{where}: bundle format version {version!r} is not supported by alignmenter-edge "
                f"{__version__} (it reads version {FORMAT_VERSION}). Re-export the bundle with this "
                "version, or install the alignmenter-edge version that wrote it "
                f"({data.get('created_by', 'unknown')}).",
                declared_tier,
            )
        if tier not in BUNDLE_TIERS:
            raise UnsupportedBundleError(
                f"{where}: unknown tier {tier!r}; this version knows {', '.join(BUNDLE_TIERS)}.",
                declared_tier,
            )
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(n for n in ("model_id", "sources", "files", "labels", "max_input_tokens",
                                     "long_input_policy", "quantization") if n not in data)
        if missing:
            raise BundleError(f"{where}: manifest lacks required field(s): {', '.join(missing)}.")
        unknown = sorted(set(data) - names)
        if unknown:
            raise BundleError(f"{where}: manifest has unknown field(s): {', '.join(unknown)}.")
        _check_field_values(data, where)
        try:
            files = {str(n): FileRecord(int(r["size"]), str(r["sha256"])) for n, r in data["files"].items()}
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: malformed 'files' table ({exc}).") from exc
        for name in files:
            problem = file_name_problem(name)
            if problem:
                raise BundleError(f"{where}: manifest file name {name!r} {problem}; a bundle lists only "
                                  "relative paths inside itself. The manifest was damaged or edited: "
                                  "re-export the bundle.")
        return cls(**{**data, "files": files})


def file_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a bundle file (None if it can): judged on the text alone, before any
    file is touched, so no name reaches outside the bundle whatever its symlinks point to."""
    if not name:
        return "is empty"
    if "\0" in name or "\\" in name:
        return "holds a NUL or a backslash"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode"
    if name.startswith("/"):
        return "is absolute"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "has an empty, '.' or '..' part"
    if name == MANIFEST_NAME:
        return "is the manifest itself"
    return None


# field -> (what it must be, the test). The manifest is not covered by the file hashes, so a value
# that would flag nothing (a NaN or negative threshold) or fail mid-run must be refused here.
_FIELD_RULES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "threshold": (THRESHOLD_RULE, is_valid_threshold),
    "max_input_tokens": ("a positive integer",
                         lambda v: is_integer(v) and v >= 1),
    "sources": ("a JSON list of objects (role, id, revision, license, ...)",
                lambda v: isinstance(v, list) and all(isinstance(source, dict) for source in v)),
    "labels": ("a JSON object; its unsafe_index (roberta-onnx: the softmax column that means unsafe), "
               "when present, a non-negative integer: not a fraction (0.9 is not column 1), a string or "
               "a bool",
               lambda v: isinstance(v, dict) and ("unsafe_index" not in v or _is_label_index(v["unsafe_index"]))),
    "extra": ("a JSON object", lambda v: isinstance(v, dict)),
    "parity": ("a JSON object whose checks hold numbers (max_abs_diff_*, label_agreement, ...)",
               lambda v: isinstance(v, dict) and all(_valid_parity_check(check) for check in v.values())),
    "prompt": ("a JSON object or null", lambda v: v is None or isinstance(v, dict)),
}


def _is_label_index(value: Any) -> bool:
    """A JSON integer >= 0 (not a bool, not 1.0): int() would read 0.9 as column 0, inverting scores."""
    return is_integer(value) and value >= 0


_PARITY_NUMBERS = ("max_abs_diff", "mean_abs_diff", "label_agreement", "tolerance", "probes", "threshold")


def _valid_parity_check(check: Any) -> bool:
    """A parity entry is a note (text) or a check whose figures are numbers; a check that reports
    label agreement reports the largest difference beside it (``info`` shows the two together)."""
    if not isinstance(check, dict):
        return True
    figures = [value for key, value in check.items() if key.startswith(_PARITY_NUMBERS)]
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in figures):
        return False
    return "label_agreement" not in check or "max_abs_diff_p_unsafe" in check


def _check_field_values(data: Mapping[str, Any], where: Path) -> None:
    """BundleError naming the first field whose value has the wrong type or range, and the fix."""
    for name, (expected, is_valid) in _FIELD_RULES.items():
        if name in data and not is_valid(data[name]):
            raise BundleError(f"{where}: field {name!r} is {data[name]!r}; it must be {expected}. "
                              "The manifest was damaged or edited: re-export the bundle (or re-copy "
                              "its manifest.json from the source).")


def licence_summary(sources: Iterable[Mapping[str, Any]]) -> str:
    """Each source's recorded licence by role, the one wording every command prints:
    ``"base apache-2.0, adapter unknown"`` (``unknown`` where none is recorded)."""
    return ", ".join(f"{source.get('role') or 'source'} {source.get('license') or 'unknown'}"
                     for source in sources) or "not recorded"


@dataclass(frozen=True)
class Bundle:
    """A bundle directory whose manifest has been read (and, by default, verified).

    ``verify`` is the mode it was read with (see :func:`read_bundle`); the constitutional tier's
    saved prefix hashes its state file every time under ``"full"`` as well.
    """

    path: Path
    manifest: Manifest
    verify: bool | str = True

    def file(self, name: str) -> Path:
        """Absolute path of an artifact listed in the manifest."""
        if name not in self.manifest.files:
            raise BundleError(f"{self.path}: the manifest lists no file named {name!r}.")
        return self.path / name

    @property
    def digest(self) -> str:
        """A short identity of the bundle: sha256 over its whole manifest as canonical JSON. The
        manifest holds every file's sha256 and also what turns outputs into scores (labels,
        threshold, prompt and constitution), so bundles with equal weights but different scoring
        rules differ; a verified copy (``install``) keeps the digest."""
        canonical = json.dumps(self.manifest.to_json(), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()
        return hashlib.sha256(canonical).hexdigest()[:16]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_bundle_dir(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a directory holding a manifest."""
    return (Path(path) / MANIFEST_NAME).is_file()


def read_bundle(path: str | os.PathLike[str], *, verify: bool | str = True) -> Bundle:
    """Read ``path/manifest.json`` and check every listed file.

    Sizes are always checked. ``verify=True`` (the default) checks sha256 too, skipping the hashing
    of a file whose size, times, inode and device are unchanged since it was last hashed in full
    on this machine (:mod:`alignmenter_edge.verified`); ``"full"`` hashes every file; ``False``
    checks sizes only. A missing, truncated or altered file raises :class:`BundleIntegrityError`
    naming it.
    """
    check_verify_mode(verify)
    root = Path(path).expanduser().resolve()
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        raise BundleError(
            f"{root} is not a bundle: {MANIFEST_NAME} is missing. Create one with "
            "'alignmenter-edge export roberta|constitutional ... -o DIR'."
        )
    manifest = read_manifest(manifest_path)
    stamps = VerifiedFiles() if verify is True else None
    try:
        for name, record in manifest.files.items():
            _check_file(root, name, record, verify, stamps)
    finally:
        if stamps is not None:
            stamps.save()
    return Bundle(root, manifest, verify)


def read_manifest(path: Path) -> Manifest:
    """Read and check one ``manifest.json`` (no files are touched); BundleError naming it otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BundleError(f"{path}: cannot be read ({exc}).") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc}). Re-copy or re-export the bundle.") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{path}: expected a JSON object. Re-copy or re-export the bundle.")
    return Manifest.from_json(data, path)


def resolved_file(root: Path, name: str) -> Path:
    """The real path of bundle file ``name`` (a name the manifest check let through); BundleError
    when a symlink on the way leads outside the bundle."""
    target = (root / name).resolve()
    if root not in target.parents:
        raise BundleError(f"{root}: manifest file name {name!r} points outside the bundle.")
    return target


def _check_file(root: Path, name: str, record: FileRecord, verify: bool | str,
                stamps: VerifiedFiles | None) -> None:
    target = resolved_file(root, name)
    if not target.is_file():
        raise BundleIntegrityError(
            f"{root}: file {name!r} listed in the manifest is missing. Re-copy or re-export the bundle."
        )
    size = target.stat().st_size
    if size != record.size:
        raise BundleIntegrityError(
            f"{root}: file {name!r} has {size} bytes, the manifest records {record.size}. "
            "The bundle is incomplete or corrupt; re-copy or re-export it."
        )
    if verify:
        actual = (stamps.sha256(target, sha256_file, expected=record.sha256) if stamps is not None
                  else sha256_file(target))
        if actual != record.sha256:
            raise BundleIntegrityError(
                f"{root}: sha256 of {name!r} is {actual}, the manifest records {record.sha256}. "
                "The file was altered or corrupted; re-copy or re-export the bundle."
            )


def write_bundle(directory: str | os.PathLike[str], files: Iterable[str], **fields: Any) -> Manifest:
    """Hash ``files`` (names relative to ``directory``) and write the manifest next to them.

    ``fields`` are the :class:`Manifest` fields other than ``files``; the manifest is written
    atomically, so a bundle is never seen with a half-written manifest.
    """
    root = Path(directory)
    records = {}
    for name in files:
        target = root / name
        if not target.is_file():
            raise BundleError(f"cannot write bundle: {target} does not exist.")
        records[name] = FileRecord(target.stat().st_size, sha256_file(target))
    fields.setdefault("created_at", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    manifest = Manifest(files=records, **fields)
    tmp = root / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, root / MANIFEST_NAME)
    return manifest
