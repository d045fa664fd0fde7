"""``sorting-cell bench faults --out DIR``: the fault matrix on a simulated cell.

One fault at a time on one running sim cell (each node its own process): SIGKILL and
SIGSTOP of every node, cancels, the arm's controller switched off (goals rejected, the
running one aborted), requests the cell cannot meet, a full or read-only disk under the
sort log. Per case: what the client was told, how long after the fault, and the
objects lost or placed twice, counted from the simulator's ground truth and the sort log
(``sorting_cell.faults.score``). Writes ``DIR/summary.json``
(``{"cases": [{"name", "outcome", "lost", "duplicated", "seconds_to_report", ...}]}``) and
prints a table. Exit status: 0 every case ok, 1 some case not ok, 2 bad usage.
"""
from __future__ import annotations

import json
import os
import platform
import signal
import sys
import threading
import time
from pathlib import Path


def run_faults(args) -> int:
    if args.out is None:
        print('error: bench faults needs --out DIR', file=sys.stderr)
        return 2
    from ..nodes.fault_matrix import CASES, run_cases
    if args.cases == ['list']:
        for case in CASES.values():
            print(f'{case.name:<44} {case.what}')
        return 0
    unknown = sorted(set(args.cases or ()) - set(CASES))
    if unknown:
        print(f'error: unknown case(s) {unknown}; `bench faults --cases list` names them',
              file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / '.write_probe'
        probe.write_text('')
        probe.unlink()
    except OSError as exc:
        print(f'error: cannot write to {out}: {exc}', file=sys.stderr)
        return 2
    summary_path = out / 'summary.json'
    summary_path.unlink(missing_ok=True)      # never leave an older run looking current
    os.environ.setdefault('MUJOCO_GL', 'egl')
    t0 = time.perf_counter()
    print(f"{'case':<44} {'outcome':<12} lost, duplicated, seconds to report")

    def write(rows: list[dict], complete: bool) -> dict:
        summary = _summary(rows, complete, t0)
        tmp = summary_path.with_suffix('.json.part')
        tmp.write_text(json.dumps(summary, indent=1))
        os.replace(tmp, summary_path)
        return summary

    # written after every case (complete: false), so a run cut short still says what it saw
    # Each run gets its own cells and sort logs: an earlier run's log would make the same
    # seeded tray look like one already sorted.
    work = out / 'work' / time.strftime('%Y%m%dT%H%M%S')
    seen: list[dict] = []

    def on_row(rows: list[dict]) -> None:
        seen[:] = rows
        write(rows, False)

    # A Ctrl-C that lands while a node process is being forked is swallowed by Python (an
    # exception in an at-fork handler is only printed): the flag still stops the run, at the
    # latest when the case under way ends.
    interrupted = threading.Event()

    def on_sigint(signum, frame):
        interrupted.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        rows = run_cases(work, args.cases, echo=lambda s: print(s, flush=True), on_row=on_row,
                         should_stop=interrupted.is_set)
        if interrupted.is_set():
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        # the cell is already stopped (run_cases' finally); say what was seen
        write(seen, False)
        print(f'interrupted after {len(seen)} case(s); the cell is stopped; wrote '
              f'{summary_path} (complete: false)', file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    summary = write(rows, True)
    bad = summary['not_ok']
    print(f'{len(rows) - len(bad)}/{len(rows)} cases ok' + (f'; not ok: {bad}' if bad else '')
          + f'\nwrote {summary_path}')
    return 1 if bad else 0


def _summary(rows: list[dict], complete: bool, t0: float) -> dict:
    return {'cases': rows, 'complete': complete,
            'not_ok': [r['name'] for r in rows if r['ok'] is False],
            'wall_s': round(time.perf_counter() - t0, 1),
            'load_average_at_end': [round(v, 2) for v in os.getloadavg()],
            'machine': f'{platform.machine()}, {os.cpu_count()} cores, '
                       f'{platform.python_version()}',
            'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
            'scored_on': 'lost / duplicated from sim/ground_truth (box of every object, '
                         'sampled each simulated second) and the sort log rows of the case; '
                         "never from the sorter's result"}
