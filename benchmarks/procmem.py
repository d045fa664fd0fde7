"""Process trees of a running cell: which node each process is, its memory, what is left.

Shared by ``soak.py`` and ``up_down.py`` (psutil; Linux ``/dev/shm`` and ``/proc/locks``).
"""
from __future__ import annotations

import os
from pathlib import Path

import psutil

SHM = Path('/dev/shm')


def node_name(proc: psutil.Process) -> str:
    """``sim`` for ``python -m sorting_cell.nodes.sim ...``, else the command's first words."""
    try:
        cmd = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return f'pid{proc.pid}'
    if '-m' in cmd:
        module = cmd[cmd.index('-m') + 1] if cmd.index('-m') + 1 < len(cmd) else ''
        if module.startswith('sorting_cell.nodes.'):
            return module.rsplit('.', 1)[-1]
    if '-c' in cmd and 'sorting_cell.cli' in ' '.join(cmd):   # sorting-cell SUBCOMMAND ...
        args = cmd[cmd.index('-c') + 2:]
        return args[0] if args else 'sorting-cell'
    words = [w for w in cmd[1:4] if not w.startswith('-')]
    return ' '.join(Path(w).name for w in words)[:40] or Path(cmd[0]).name


def tree(root_pid: int) -> list[psutil.Process]:
    """``root_pid`` and every descendant still running."""
    try:
        root = psutil.Process(root_pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss_by_node(root_pid: int, root_name: str) -> dict[str, list]:
    """``[pid, RSS in MB]`` of every process of the tree, keyed by node name (root:
    ``root_name``)."""
    out = {}
    for proc in tree(root_pid):
        try:
            rss = proc.memory_info().rss / 2**20
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        name = root_name if proc.pid == root_pid else node_name(proc)
        while name in out:    # two processes of the same name (never expected)
            name += "'"
        out[name] = [proc.pid, round(rss, 1)]
    return out


def _locked_inodes() -> set[int]:
    """Inodes that some process holds a flock/POSIX lock on (``/proc/locks``)."""
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


def shm_entries() -> set[str]:
    """Names in /dev/shm (Fast DDS segments ``fastrtps_*``, their ``*_el`` lock files,
    port segments and ``sem.*`` semaphores)."""
    try:
        return set(os.listdir(SHM))
    except OSError:
        return set()


def stale_shm(names: set[str]) -> list[str]:
    """Of ``names``: Fast DDS segments nobody owns any more.

    Fast DDS keeps each segment ``fastrtps_X`` alive with an exclusive lock on
    ``fastrtps_X_el`` held by its creator (a robust lock: the kernel drops it when the
    process dies). A segment whose lock file is gone or unlocked belongs to no running
    process: stale. Port segments (``fastrtps_portNNNN``) are shared by every participant on
    the port and are reused, not leaked; they count as stale only when their lock file is
    unlocked too.
    """
    locked = _locked_inodes()
    stale = []
    for name in sorted(names):
        if not name.startswith('fastrtps_') or name.endswith(('_el', '_sl')):
            continue
        lock = SHM / f'{name}_el'
        try:
            ino = lock.stat().st_ino
        except OSError:
            if (SHM / name).exists():
                stale.append(name)
            continue
        if ino not in locked and (SHM / name).exists():
            stale.append(name)
    return stale


def mapped_shm(pids) -> set[str]:
    """Names of the /dev/shm entries the processes ``pids`` have mapped (segments and
    semaphores; read from /proc/PID/maps)."""
    names = set()
    for pid in pids:
        try:
            text = Path(f'/proc/{pid}/maps').read_text()
        except OSError:
            continue
        for line in text.splitlines():
            path = line.split(maxsplit=5)[-1] if line.count(' ') >= 5 else ''
            if path.startswith('/dev/shm/'):
                names.add(path[len('/dev/shm/'):].replace(' (deleted)', ''))
    return names
