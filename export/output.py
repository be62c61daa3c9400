"""Where an export writes its bundle, shared by both exports (one rule for ``-o`` and ``--force``).

* :func:`check_output` runs before the slow steps and again just before the bundle is moved in.
  ``-o`` must be a directory path, not a file; it must not contain (or be) a source model
  directory; an existing non-empty directory is replaced only with ``force``, and only when it is
  a bundle as a whole: its ``manifest.json`` is an alignmenter-edge bundle manifest (``format``
  ``alignmenter-edge-bundle``, any version) and it holds no file that manifest does not list.
  Anything else is left alone: ``--force`` never deletes a directory that is not a bundle (a web
  app's ``manifest.json``), nor files someone put into a bundle directory.
* :func:`staging_dir` makes the hidden work directory next to the output (same file system, so
  the final move is a rename).
* :func:`publish` verifies the staged bundle (``read_bundle``), gives it the mode of a plain
  directory (``0o755`` minus the umask; ``mkdtemp`` makes it 0700) and moves it into place. An old
  bundle is first renamed to a hidden name in the same parent, the new one renamed in, and only
  then is the old one deleted; on any failure the old one is put back.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

from ..bundle import FORMAT_NAME, MANIFEST_NAME, read_bundle
from ..directories import give_plain_directory_mode, swap_directory
from ..errors import ExportError



def check_output(output: str | os.PathLike[str], *, force: bool,
                 sources: Iterable[tuple[str, str | os.PathLike[str] | None]] = ()) -> Path:
    """Resolve ``output`` and refuse what the export must not write to or delete.

    ``sources`` are ``(role, directory)`` pairs (local model directories, hub cache snapshots;
    ``None`` entries are skipped): an output that is or contains one of them is refused.
    """
    path = Path(output).expanduser().resolve()
    for role, source in sources:
        if source is None:
            continue
        source_path = Path(source).expanduser().resolve()
        if source_path == path or path in source_path.parents:
            raise ExportError(f"the output {path} contains the {role} model directory {source_path}; "
                              "the export would replace it. Choose an output directory outside it.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ExportError(f"cannot write the bundle to {path}: {parent} is a file, not a "
                                  "directory. Choose another output path.")
            break
    if path.exists() and not path.is_dir():
        raise ExportError(f"the output {path} is a file, not a directory; -o names the bundle "
                          "directory to create. Choose another path.")
    if not path.is_dir():
        return path
    try:
        empty = not any(path.iterdir())
    except OSError as exc:
        raise ExportError(f"cannot read the output directory {path} ({exc}); choose another one.") from exc
    if empty:
        return path
    if not force:
        raise ExportError(f"{path} exists and is not empty; choose another directory, or pass --force "
                          "to replace the bundle in it.")
    _check_replaceable_bundle(path)
    return path


def _check_replaceable_bundle(path: Path) -> None:
    """ExportError unless ``path`` is a bundle as a whole: its manifest.json is this project's
    bundle format (any version) and every file in the directory is the manifest or listed in it.
    A web app's manifest.json, or a bundle directory someone put notes or logs into, is not
    deleted by --force."""
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ExportError(f"{path} is not a bundle (it has no {MANIFEST_NAME}), so --force will not "
                          "delete it; choose an empty or new output directory.")
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        data = None
    files = data.get("files") if isinstance(data, dict) else None
    if not (isinstance(data, dict) and data.get("format") == FORMAT_NAME and isinstance(files, dict)):
        raise ExportError(f"{path} is not a bundle (its {MANIFEST_NAME} is not an alignmenter-edge "
                          f"bundle manifest: no \"format\": \"{FORMAT_NAME}\" and file table), so "
                          "--force will not delete it; choose an empty or new output directory.")
    listed = {str(name) for name in files} | {MANIFEST_NAME}
    needed = listed | {str(parent) for name in listed for parent in Path(name).parents}
    try:
        unlisted = sorted(entry.relative_to(path).as_posix() for entry in path.rglob("*")
                          if entry.relative_to(path).as_posix() not in needed)
    except OSError as exc:
        raise ExportError(f"cannot read the output directory {path} ({exc}); choose another one.") from exc
    # a directory is named only when nothing unlisted inside it is
    unlisted = [name for name in unlisted if not any(other.startswith(name + "/") for other in unlisted)]
    if unlisted:
        shown = ", ".join(unlisted[:5]) + (f" and {len(unlisted) - 5} more" if len(unlisted) > 5 else "")
        raise ExportError(f"{path} holds files its {MANIFEST_NAME} does not list ({shown}); --force "
                          "replaces a bundle as a whole, so it will not delete them. Move them out "
                          f"of {path}, or choose an empty or new output directory.")


def staging_dir(output: Path, prefix: str) -> Path:
    """A new hidden work directory in ``output``'s parent (created if needed)."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=output.parent))
    except OSError as exc:
        raise ExportError(f"cannot create a work directory next to {output} ({exc}); choose an "
                          "output path in a writable directory.") from exc


def publish(stage: Path, output: Path, *, force: bool,
            sources: Iterable[tuple[str, str | os.PathLike[str] | None]] = ()) -> None:
    """Verify the bundle staged at ``stage`` and move it to ``output`` (see the module docstring)."""
    read_bundle(stage)  # the bundle as written must verify
    give_plain_directory_mode(stage)
    check_output(output, force=force, sources=sources)  # it may have changed during the export
    try:
        if output.is_dir() and any(output.iterdir()):
            swap_directory(stage, output)
            return
        if output.is_dir():
            output.rmdir()  # empty (checked): a rename onto it is not portable
        os.rename(stage, output)
    except OSError as exc:
        raise ExportError(f"cannot move the bundle into {output}: {exc}.") from exc
