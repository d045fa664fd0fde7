"""Fast DDS shared-memory segments left behind by processes that died.

Fast DDS keeps each segment ``fastrtps_X`` in ``/dev/shm`` alive with an exclusive lock on
``fastrtps_X_el`` held by its creator: a robust lock, which the kernel drops when the process
dies. A node that ends normally removes its segments; one killed by a signal (SIGKILL, or an
abort while shutting down) leaves them, and they stay until someone removes them (Fast DDS's
own ``fastdds shm clean`` does the same). Port segments (``fastrtps_portNNNN``) are shared by
the participants on a port and reused; they are stale only when their lock is free too.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ['SHM', 'locked_inodes', 'stale_segments', 'remove_stale_segments']

SHM = Path('/dev/shm')


def locked_inodes() -> set[int]:
    """Inodes some process holds a flock or POSIX lock on (``/proc/locks``)."""
    inodes = set()
    try:
        text = Path('/proc/locks').read_text()
    except OSError:
        return inodes
    for line in text.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF" (maj:min:inode)
        for field in line.split():
            if field.count(':') == 2:
                try:
                    inodes.add(int(field.rsplit(':', 1)[1]))
                except ValueError:
                    pass
    return inodes


def stale_segments(names=None, shm: Path = SHM) -> list[str]:
    """Of ``names`` (default: everything in ``shm``): the Fast DDS segments whose lock
    nobody holds, i.e. whose owner is gone."""
    if names is None:
        names = {p.name for p in shm.iterdir()} if shm.is_dir() else set()
    locked = locked_inodes()
    stale = []
    for name in sorted(names):
        if not name.startswith('fastrtps_') or name.endswith(('_el', '_sl')):
            continue
        lock = shm / f'{name}_el'
        try:
            ino = lock.stat().st_ino
        except OSError:
            if (shm / name).exists():
                stale.append(name)
            continue
        if ino not in locked and (shm / name).exists():
            stale.append(name)
    return stale


def remove_stale_segments(shm: Path = SHM) -> list[str]:
    """Remove the stale participant segments of ``shm`` (each a participant's 16 MB with the
    shipped profiles) with their lock files; their names. Port segments are left: a live
    participant may still read one whose lock file it does not hold, and a port segment
    unlinked under it would cut it off from every new writer."""
    removed = []
    for name in stale_segments(shm=shm):
        if name.startswith('fastrtps_port'):
            continue
        for path in (shm / name, shm / f'{name}_el'):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                continue
        removed.append(name)
    return removed
