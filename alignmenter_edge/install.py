"""Install a bundle into the data directory, verified: the copy is hashed before it is used.

``install_bundle("/media/usb/roberta")`` copies the manifest and exactly the files it lists into
``<data home>/bundles/roberta`` (under a temporary name first), hashes every copied file against
the manifest, and only then moves it into place, so an interrupted or corrupted copy is never
seen as an installed bundle. Afterwards the bundle loads by name: ``load_classifier("roberta")``.
``uninstall_bundle("roberta")`` takes it out again: renamed to a hidden directory first (so no
concurrent load or ``info`` sees a half-deleted bundle), then deleted.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from .bundle import MANIFEST_NAME, Bundle, is_bundle_dir, read_bundle, resolved_file
from .directories import give_plain_directory_mode, swap_directory
from .errors import BundleError, BundleIntegrityError, UnknownModelError
from .paths import bundles_dir
from .registry import name_read_as_tier


def _check_plain_name(name: str) -> None:
    if not name or name in (".", "..") or name.startswith(".") or "/" in name or os.sep in name:
        raise BundleError(f"invalid bundle name {name!r}: use one plain directory name such as 'roberta-int8'.")


def check_bundle_name(name: str) -> None:
    """Refuse names that are not one plain directory name, or that ``load_classifier`` would
    read as a tier instead of the bundle."""
    _check_plain_name(name)
    tier = name_read_as_tier(name)
    if tier is not None:
        raise BundleError(f"bundle name {name!r} is the tier name {tier!r} (tier names are "
                          "case-insensitive), so it would load that tier, not the bundle; pass "
                          "another name with --name.")


def install_bundle(source: str | os.PathLike[str], name: str | None = None, *,
                   force: bool = False) -> Bundle:
    """Copy the bundle at ``source`` into the bundles directory as ``name`` (default: the
    source directory's name), verified in full. Returns the installed bundle."""
    origin = read_bundle(source, verify=False)  # manifest valid, every file present at its size
    if name is None:
        name = origin.path.name
    check_bundle_name(name)
    root = bundles_dir()
    target = root / name
    if target.exists() or target.is_symlink():
        if not is_bundle_dir(target):  # never replaced, not even with force: it is not ours
            raise BundleError(f"{target} exists and is not an installed bundle (no {MANIFEST_NAME}), "
                              "so nothing was installed; move it away, or pass --name to install "
                              "under another name.")
        if not force:
            raise _already_installed(target)
    staging: Path | None = None
    try:  # the data home may be read-only or not a directory: a BundleError too, naming it
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".install-{name}-", dir=root)).resolve()
        for file_name in [*origin.manifest.files, MANIFEST_NAME]:
            destination = staging / file_name  # a relative name without '..' (Manifest checks it)
            destination.parent.mkdir(parents=True, exist_ok=True)
            if staging not in destination.resolve().parents:
                raise BundleError(f"{origin.path}: file name {file_name!r} would be copied outside "
                                  "the new bundle; nothing was installed.")
            shutil.copyfile(resolved_file(origin.path, file_name), destination)
        try:
            read_bundle(staging, verify="full")
        except BundleIntegrityError as exc:  # named by the copy, a directory about to be deleted
            raise BundleIntegrityError(
                f"the bundle at {origin.path} does not match its manifest, so nothing was installed "
                f"(checked on the copy made to install it): {str(exc).removeprefix(f'{staging}: ')}") from exc
        give_plain_directory_mode(staging)
        _move_into_place(staging, target, force)
    except OSError as exc:
        raise BundleError(f"cannot install {origin.path} into {target}: {exc}.") from exc
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return read_bundle(target, verify=False)


def uninstall_bundle(name: str) -> int:
    """Delete the installed bundle ``name`` (a name, never a path); returns the bytes freed.
    A directory without a manifest is not a bundle and is left alone; a bundle that is a symlink
    loses only the link (0 bytes freed), never the directory it points to."""
    _check_plain_name(name)
    target = bundles_dir() / name
    if not (target / MANIFEST_NAME).is_file():
        from .registry import installed_bundles

        installed = ", ".join(installed_bundles()) or "none"
        what = "a tier, not an installed bundle" if name_read_as_tier(name) else "not installed"
        raise UnknownModelError(f"{name!r} is {what}; installed bundles in {target.parent}: {installed}.")
    size = 0 if target.is_symlink() else sum(path.stat().st_size for path in target.rglob("*")
                                             if path.is_file() and not path.is_symlink())
    try:
        retired = Path(tempfile.mkdtemp(prefix=f".uninstall-{name}-", dir=target.parent))
    except OSError as exc:
        raise BundleError(f"cannot uninstall {target}: {exc}.") from exc
    try:
        os.rename(target, retired / name)
    except OSError as exc:
        retired.rmdir()
        raise BundleError(f"cannot uninstall {target}: {exc}.") from exc
    try:
        shutil.rmtree(retired)
    except OSError as exc:  # it no longer loads, but its bytes are not all free: say where they are
        raise BundleError(f"{name!r} is uninstalled, but not all of its files could be deleted "
                          f"({exc}); delete {retired} by hand to free the space.") from exc
    return size


def _already_installed(target: Path) -> BundleError:
    return BundleError(f"a bundle named {target.name!r} is already installed ({target}); pass "
                       "--force to replace it, or --name to install under another name.")


def _move_into_place(staging: Path, target: Path, force: bool) -> None:
    """Move ``staging`` to ``target``. Without ``force`` a bundle that appeared there meanwhile
    (a concurrent install) is never replaced; with it an existing bundle is swapped out."""
    if force and target.exists():
        swap_directory(staging, target)
        return
    try:
        os.rename(staging, target)  # fails onto a non-empty directory: never replaces a bundle
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise _already_installed(target) from exc
        raise
