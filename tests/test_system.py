"""Machine helpers: physical cores within the affinity mask; giving freed heap memory back to the
OS after large loads."""

from __future__ import annotations

import ctypes
import platform
import sys

from alignmenter_edge.system import cores_of, release_free_heap
from tests.helpers import require_platform

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def _rss_anon_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def test_freed_heap_goes_back_to_the_os():
    """64 MB of small blocks (below glibc's mmap threshold, so on the heap), every other one kept
    so nothing can shrink from the top: only malloc_trim returns those free pages."""
    require_platform(GLIBC, "malloc_trim is glibc's")
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(64 * 1024 - 64) for _ in range(1024)]
    try:
        for block in blocks:
            ctypes.memset(block, 1, 64 * 1024 - 64)
        for block in blocks[0::2]:
            libc.free(block)
        before = _rss_anon_mb()
        assert release_free_heap() is True
        assert before - _rss_anon_mb() > 16  # ~30 MB of free, touched pages returned; 0 untrimmed
    finally:
        for block in blocks[1::2]:
            libc.free(block)


def test_release_says_whether_the_c_library_offers_it_and_can_be_repeated():
    assert release_free_heap() is GLIBC
    assert release_free_heap() is GLIBC


def _cpuinfo(cpus: list[tuple[int, int, int]], core_ids: bool = True) -> str:
    """/proc/cpuinfo text for (processor, physical id, core id) triples, x86 layout."""
    blocks = []
    for processor, package, core in cpus:
        lines = [f"processor\t: {processor}", "model name\t: Test CPU", f"physical id\t: {package}"]
        if core_ids:
            lines.append(f"core id\t\t: {core}")
        blocks.append("\n".join(lines + ["flags\t\t: fpu avx2"]))
    return "\n\n".join(blocks) + "\n\n"


# 2 packages x 2 cores x 2 hyper-threads, numbered the way Linux does: siblings are n and n + 4
MACHINE = _cpuinfo([(0, 0, 0), (1, 0, 1), (2, 1, 0), (3, 1, 1), (4, 0, 0), (5, 0, 1), (6, 1, 0), (7, 1, 1)])


def test_cores_count_only_the_cpus_this_process_may_use():
    """Pinned to two hyper-threads of one core, the default was 2 threads: the cores of every CPU
    in /proc/cpuinfo were counted, not those of the affinity mask."""
    assert cores_of(MACHINE, None) == 4
    assert cores_of(MACHINE, set(range(8))) == 4
    assert cores_of(MACHINE, {0, 4}) == 1            # siblings: one core
    assert cores_of(MACHINE, {0, 1}) == 2
    assert cores_of(MACHINE, {0, 2, 4, 6}) == 2      # same core id, different packages: two cores
    assert cores_of(MACHINE, {3}) == 1


def test_cores_unknown_when_cpuinfo_does_not_say():
    """No core id lines (many ARM kernels), or a CPU of the mask missing from the text: unknown,
    so the caller falls back to the logical count."""
    assert cores_of(_cpuinfo([(0, 0, 0), (1, 0, 0)], core_ids=False), {0, 1}) is None
    assert cores_of(MACHINE, {0, 9}) is None
    assert cores_of("", None) is None
