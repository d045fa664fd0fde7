"""Run the README's test command several times in a row with CPU hogs beside it.

A test that passes only on an idle machine is a broken test: this script is how the
project checks that claim. It starts ``--hogs`` busy-loop processes (each keeps one core
fully busy for the whole run), runs the README's test command ``--runs`` times back to back
in ``--repo``, and writes what happened (passed/failed counts, the failing test ids,
wall time, load average) to ``--out`` as JSON and Markdown.

    python benchmarks/suite_under_load.py --repo /tmp/clone --runs 3 --hogs 1

The repo must already be set up (``scripts/setup.sh``); the command is taken from the
README's first screen, so the script checks what a user would run.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The README's second first-screen command, after `scripts/setup.sh &&`.
README_TEST = re.compile(r'scripts/setup\.sh && (\.venv/bin/python -m pytest [^#\n]*?)\s+#')
SUMMARY = re.compile(r'(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed)')


def readme_test_command(repo: Path) -> list[str]:
    text = (repo / 'README.md').read_text(encoding='utf-8')
    match = README_TEST.search(text)
    if match is None:
        raise SystemExit(f'no test command of the form "scripts/setup.sh && .venv/bin/python '
                         f'-m pytest ..." on the first screen of {repo / "README.md"}')
    return shlex.split(match.group(1))


def _spin(stop: mp.Event) -> None:
    # Pure Python arithmetic: one core at 100 % until told to stop.
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def run_once(repo: Path, command: list[str], log: Path) -> dict:
    loads = []
    start = time.monotonic()
    with open(log, 'w', encoding='utf-8') as out:
        proc = subprocess.Popen(command, cwd=repo, stdout=out, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            loads.append(os.getloadavg()[0])
            time.sleep(5)
    seconds = time.monotonic() - start
    text = log.read_text(encoding='utf-8', errors='replace')
    # pytest's own summary line ("N passed ... in S s"), not whatever a late thread printed
    # after it (rclpy's "exception was never retrieved" at interpreter exit)
    lines = [line for line in text.splitlines()
             if SUMMARY.search(line) and re.search(r' in [\d.]+s', line)] or \
        [line for line in text.splitlines() if line.strip()]
    counts = {}
    if lines:
        for number, kind in SUMMARY.findall(lines[-1]):
            counts[kind.rstrip('s') if kind.startswith('error') else kind] = int(number)
    failing = sorted(set(re.findall(r'^(?:FAILED|ERROR) (\S+)', text, flags=re.M)))
    return {'returncode': proc.returncode, 'seconds': round(seconds, 1), 'counts': counts,
            'failing': failing, 'summary_line': lines[-1] if lines else '',
            'load_average_1min': {'mean': round(sum(loads) / max(len(loads), 1), 2),
                                  'max': round(max(loads, default=0.0), 2)},
            'log': str(log)}


def markdown(result: dict) -> str:
    rows = ['| run | result | passed | failed | wall | load avg (mean / max) |',
            '| --- | --- | --- | --- | --- | --- |']
    for i, run in enumerate(result['runs'], 1):
        load = run['load_average_1min']
        rows.append(f"| {i} | {'green' if run['returncode'] == 0 else 'RED'} | "
                    f"{run['counts'].get('passed', 0)} | {run['counts'].get('failed', 0)} | "
                    f"{run['seconds'] / 60:.1f} min | {load['mean']} / {load['max']} |")
    failing = sorted({t for run in result['runs'] for t in run['failing']})
    verdict = ('all green' if result['all_green'] else
               'NOT all green; failing: ' + ', '.join(failing))
    return '\n'.join([
        '# The README\'s test command under a CPU hog', '',
        f"Command: `{' '.join(result['command'])}` in a clone at commit `{result['commit']}`, "
        f"{result['runs_done']} of {result['runs_requested']} runs back to back done, {result['hogs']} busy-loop process(es) "
        f"beside it on a {result['cpus']}-core machine. Verdict: **{verdict}**.", '',
        *rows, ''])


def _write(out: Path, command: list[str], repo: Path, commit: str, args, runs: list[dict]) -> dict:
    result = {'command': command, 'repo': str(repo), 'commit': commit, 'cpus': os.cpu_count(),
              'hogs': args.hogs, 'runs_requested': args.runs, 'runs_done': len(runs),
              'runs': runs, 'all_green': len(runs) == args.runs
              and all(run['returncode'] == 0 for run in runs)}
    (out / 'summary.json').write_text(json.dumps(result, indent=2) + '\n', encoding='utf-8')
    (out / 'summary.md').write_text(markdown(result), encoding='utf-8')
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repo', type=Path, default=ROOT, help='a set-up clone (default: this one)')
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--hogs', type=int, default=1, help='busy-loop processes beside the tests')
    parser.add_argument('--out', type=Path, default=ROOT / 'benchmarks/results/suite_under_load')
    args = parser.parse_args(argv)
    if args.runs < 1 or args.hogs < 0:
        parser.error('--runs must be >= 1 and --hogs >= 0')
    repo = args.repo.resolve()
    if not (repo / '.venv/bin/python').exists():
        parser.error(f'{repo} is not set up: run scripts/setup.sh there first')
    command = readme_test_command(repo)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=repo, text=True,
                            capture_output=True).stdout.strip()
    args.out.mkdir(parents=True, exist_ok=True)
    stop = mp.Event()
    hogs = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.hogs)]
    for hog in hogs:
        hog.start()
    runs = []
    try:
        for i in range(1, args.runs + 1):
            run = run_once(repo, command, args.out / f'run{i}.log')
            runs.append(run)
            _write(args.out, command, repo, commit, args, runs)   # a run cut short still tells
            print(f"run {i}/{args.runs}: rc {run['returncode']}, {run['summary_line']}, "
                  f"{run['seconds'] / 60:.1f} min", flush=True)
    finally:
        stop.set()
        for hog in hogs:
            hog.join(timeout=5)
    result = _write(args.out, command, repo, commit, args, runs)
    print(f"{'all green' if result['all_green'] else 'NOT all green'}: {args.out / 'summary.md'}")
    return 0 if result['all_green'] else 1


if __name__ == '__main__':
    sys.exit(main())
