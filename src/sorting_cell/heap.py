"""Keep a long-running process's heap from growing with work it has finished (glibc only).

Rebuilding the simulated cell frees hundreds of MB (the model, its meshes and textures, the
renderer's GL context and the shaders llvmpipe compiled for it) from several threads. glibc
gives every thread that allocates its own arena (up to 8 per core) and returns a freed arena
block to the system only when the top of the heap is free, so each rebuild left most of that
memory mapped: the sim node grew ~100 MB per ``sim/reset`` (issue 10). Fewer arenas and an
explicit trim after a rebuild keep it flat. Elsewhere than glibc both calls do nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ['limit_arenas', 'trim']

_M_ARENA_MAX = -8   # glibc malloc.h


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library('c')
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.mallopt, libc.malloc_trim   # glibc has both; musl and macOS do not
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(n: int = 2) -> bool:
    """At most ``n`` malloc arenas for threads created from now on (call before starting
    threads). True when glibc took it."""
    if n < 1:
        raise ValueError(f'limit_arenas: n must be at least 1, got {n}')
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, int(n)) == 1)


def trim() -> bool:
    """Give the free memory of every arena back to the system. True when some was."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))
