"""Start real node processes for system tests (what a launch file would do on a full install).

Each process gets its parameters from a YAML file, the test's DDS domain, localhost-only
discovery, and its own session so it can be killed with everything it started.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from sorting_cell.bringup import local_env

HERE = Path(__file__).resolve().parent


def ros_env(domain_id: int) -> dict:
    """A child's environment: DDS domain ``domain_id`` over loopback UDP, no shared memory
    (:func:`sorting_cell.bringup.local_env`)."""
    env = local_env(domain_id)
    env['PYTHONPATH'] = os.pathsep.join([str(HERE), env.get('PYTHONPATH', '')]).rstrip(
        os.pathsep)
    env['PYTHONUNBUFFERED'] = '1'
    return env


class NodeProcess:
    """``python -m <module> --ros-args --params-file <yaml>`` as a child process."""

    def __init__(self, module: str, params: dict, workdir: Path, domain_id: int,
                 name: str | None = None):
        self.module, self.params, self.domain_id = module, params, domain_id
        self.name = name or module.rsplit('.', 1)[-1]
        self.workdir = Path(workdir)
        self.log_path = self.workdir / f'{self.name}.log'
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> 'NodeProcess':
        self.starts += 1
        params_file = self.workdir / f'{self.name}.yaml'
        params_file.write_text(yaml.safe_dump({'/**': {'ros__parameters': self.params}}))
        log = open(self.log_path, 'a')
        log.write(f'--- start {self.starts} ---\n')
        log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, '-m', self.module, '--ros-args', '--params-file',
             str(params_file)], env=ros_env(self.domain_id), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> int:
        """SIGKILL the whole process group (as a crash or power cut would)."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(timeout=10)

    def stop(self, timeout: float = 8.0) -> int | None:
        """SIGINT, then SIGKILL if it does not exit in time."""
        if self.proc is None:
            return None
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                return self.proc.wait(timeout=timeout)
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ''

    def wait_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        marker = f'--- start {self.starts} ---'
        while time.monotonic() < deadline:
            if text in self.log().rpartition(marker)[2]:   # this run's output only
                return
            if not self.alive():
                raise AssertionError(f'{self.name} exited ({self.proc.returncode}) before '
                                     f'logging {text!r}:\n{self.log()[-3000:]}')
            time.sleep(0.1)
        raise AssertionError(f'{self.name} did not log {text!r} within {timeout} s:\n'
                             f'{self.log()[-3000:]}')


def _bound_udp_ports() -> set[int]:
    ports = set()
    for table in ('/proc/net/udp', '/proc/net/udp6'):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        ports.update(int(line.split()[1].rsplit(':', 1)[1], 16) for line in lines)
    return ports


def domain_in_use(domain: int, ports: set[int] | None = None) -> bool:
    """Whether a DDS participant on this machine uses ``domain``: the RTPS ports of a
    domain are 7400 + 250 * domain and the 249 after it (discovery and user traffic)."""
    ports = _bound_udp_ports() if ports is None else ports
    base = 7400 + 250 * domain
    return any(base <= p < base + 250 for p in ports)


def stop_session(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGINT to the session of ``proc`` (started with ``start_new_session``: its nodes too),
    SIGKILL if it has not ended within ``timeout`` s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_until(predicate, timeout: float, what: str, logs=lambda: ''):
    """The first true value of ``predicate()``, polled until ``timeout`` s; else an
    AssertionError naming ``what``, with ``logs()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f'timed out waiting for {what}\n{logs()}')


def node_logs(root: Path, tail: int = 1500) -> str:
    """The last ``tail`` characters of every ``*.log`` below ``root``, for a failure message."""
    return '\n'.join(f'--- {p.name}\n{p.read_text()[-tail:]}'
                     for p in sorted(Path(root).rglob('*.log')))


def domain_for(tag: str, avoid=()) -> int:
    """A DDS domain for one test module of this process (1..200; Fast DDS takes 0..232)
    that no participant on this machine uses yet: a node left over from another run, or a
    test of another checkout running beside this one, must not answer this test's goals.
    Domains in ``avoid`` are skipped too (ones this process used a moment ago)."""
    ports = _bound_udp_ports()
    first = (os.getpid() * 31 + sum(map(ord, tag))) % 200
    for k in range(200):
        domain = 1 + (first + k) % 200
        if domain not in avoid and not domain_in_use(domain, ports):
            return domain
    raise RuntimeError('every DDS domain 1..200 has participants on this machine')
