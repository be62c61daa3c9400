"""Facts about the machine: usable cores and CPU features (for defaults and `info`)."""

from __future__ import annotations

import ctypes
import os
from functools import lru_cache
from pathlib import Path
from typing import Callable

_INTERESTING_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                      "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "asimd", "sve")


def _usable_cpu_ids() -> set[int] | None:
    """The logical CPU numbers this process may run on (None where the OS does not say)."""
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return None


def usable_cpus() -> int:
    """Logical CPUs this process may run on."""
    ids = _usable_cpu_ids()
    return len(ids) if ids is not None else (os.cpu_count() or 1)


@lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical cores available to this process (hyper-threads do not speed up matmuls)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return usable_cpus()
    return cores_of(text, _usable_cpu_ids()) or usable_cpus()


def cores_of(cpuinfo: str, cpu_ids: set[int] | None) -> int | None:
    """How many distinct physical cores (physical id, core id) the logical CPUs ``cpu_ids`` (None:
    all) sit on, from /proc/cpuinfo text; None when it does not say for every one of them (no
    ``core id`` lines, as on many ARM kernels). Two hyper-threads of one core count once."""
    core_of: dict[int, tuple[str | None, str]] = {}
    for block in cpuinfo.split("\n\n"):
        fields = {key.strip(): value.strip() for key, _, value in
                  (line.partition(":") for line in block.splitlines())}
        if fields.get("processor", "").isdigit() and "core id" in fields:
            core_of[int(fields["processor"])] = (fields.get("physical id"), fields["core id"])
    wanted = set(core_of) if cpu_ids is None else cpu_ids
    if not wanted or not wanted <= set(core_of):
        return None
    return len({core_of[cpu] for cpu in wanted})


def default_threads() -> int:
    """The default thread count for model tiers: the physical cores available."""
    return physical_cores()


@lru_cache(maxsize=1)
def cpu_features() -> list[str]:
    """The SIMD features relevant to int8/quantized inference that this CPU reports."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags = set(value.split())
            return [f for f in _INTERESTING_FLAGS if f in flags]
    return []


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc; absent on macOS, Windows and musl
    except (AttributeError, OSError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_heap() -> bool:
    """Hand memory that is freed but still mapped back to the OS (glibc ``malloc_trim``).

    Parsing a 1.5 MB tokenizer.json or an 82 MB ONNX model frees tens of MB that glibc would keep
    resident; trimming once after loading lowers the process's RSS by that much. Returns whether
    the C library offers it (elsewhere this does nothing).
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
