"""Process trees of a running cell: which node each process is, its memory, what is left.

Shared by ``soak.py`` and ``up_down.py`` (psutil; Linux ``/dev/shm`` and ``/proc/locks``).
"""
from __future__ import annotations

import os
from pathlib import Path

import psutil

from sorting_cell.shm import stale_segments

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


def shm_entries() -> set[str]:
    """Names in /dev/shm (Fast DDS segments ``fastrtps_*``, their ``*_el`` lock files,
    port segments and ``sem.*`` semaphores)."""
    try:
        return set(os.listdir(SHM))
    except OSError:
        return set()


def stale_shm(names: set[str]) -> list[str]:
    """Of ``names``: Fast DDS segments nobody owns any more (``sorting_cell.shm``)."""
    return stale_segments(names, SHM)


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
