"""Machine helpers: giving freed heap memory back to the OS after large loads."""

from __future__ import annotations

import ctypes
import platform
import sys

from alignmenter_edge.system import release_free_heap
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
