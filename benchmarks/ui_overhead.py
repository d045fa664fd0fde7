"""Does the operator's page change the cell's timing? Image latency and sort time of the
simulated cell without the page, with the page served but closed, and with the page open in
a headless Chromium (selenium, Debian's chromium-driver).

Each condition brings up ``sorting-cell up sim`` (same tray: seed, objects, boxes), waits for
the sorter, then sorts the tray once through :class:`sorting_cell.client.SortingCell` (wall
time from goal to result) while a probe node records every camera frame's latency. The sim
stamps frames with simulation time, so the probe also listens to ``/clock`` and maps each
stamp to the wall time at which that simulation time was published (interpolated); the
latency is then receipt minus that time: render, conversion, DDS transport and
deserialisation, less the (small) transit of ``/clock`` itself.

Run once (about 5 minutes; note the machine's load with the figures):
    python benchmarks/ui_overhead.py [--objects 4] [--boxes 2]
Writes benchmarks/results/ui_overhead.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results'
CONDITIONS = ['no page', 'page served, closed', 'page open in headless chromium']


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Probe:
    """Camera frame latencies (via /clock) in a background executor."""

    def __init__(self, ctx):
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import qos_profile_sensor_data
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Image

        from sorting_cell.nodes.qos import sensor_qos
        self.node = Node('ui_overhead_probe', context=ctx)
        self.clock: list[tuple[float, float]] = []     # (sim s, wall s)
        self.frames: list[tuple[float, float]] = []    # (stamp sim s, receipt wall s)
        self.recording = False
        self.node.create_subscription(Clock, '/clock', self._on_clock, qos_profile_sensor_data)
        self.node.create_subscription(Image, 'camera/image_raw', self._on_image, sensor_qos())
        self.executor = SingleThreadedExecutor(context=ctx)
        self.executor.add_node(self.node)
        threading.Thread(target=self._spin, daemon=True).start()

    def _spin(self):
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - the context ends with the condition
            pass

    def _on_clock(self, msg):
        self.clock.append((msg.clock.sec + msg.clock.nanosec * 1e-9, time.time()))

    def _on_image(self, msg):
        now = time.time()
        if self.recording:
            self.frames.append((msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9, now))

    def latencies_ms(self) -> np.ndarray:
        if not self.frames or len(self.clock) < 2:
            return np.array([])
        clock = np.array(self.clock)
        order = np.argsort(clock[:, 0])
        sim, wall = clock[order, 0], clock[order, 1]
        stamps, recv = np.array(self.frames).T
        inside = (stamps >= sim[0]) & (stamps <= sim[-1])
        return 1000 * (recv[inside] - np.interp(stamps[inside], sim, wall))


def run_condition(name: str, args, work: Path, domain: int) -> dict:
    import rclpy

    from sorting_cell.client import SortingCell
    port = _free_port()
    cmd = [str(Path(sys.executable).with_name('sorting-cell')), 'up', 'sim', '--transport',
           'default', '--log-dir', str(work / 'logs'), '--exit-on-failure',
           '-p', f'sim.num_boxes:={args.boxes}', '-p', f'sim.n_objects:={args.objects}',
           '-p', f'sim.seed:={args.seed}', '-p', 'sim.real_time_factor:=3.0',
           '-p', 'sim.camera_rate:=5.0', '-p', f'sorter.sort_log_dir:={work / "sortlog"}',
           '-p', 'sorter.snapshot_timeout:=30.0', '-p', f'sorter.arm.num_boxes:={args.boxes}',
           '-p', 'sorter.arm.server_timeout:=30.0']
    if name != 'no page':
        cmd += ['--ui', '--ui-port', str(port), '--ui-out', str(work / 'out')]
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               MUJOCO_GL=os.environ.get('MUJOCO_GL', 'egl'))
    os.environ.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    up = subprocess.Popen(cmd, env=env, stdout=open(work / 'up.log', 'w'),
                          stderr=subprocess.STDOUT, start_new_session=True)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    driver = None
    try:
        probe = Probe(ctx)
        deadline = time.monotonic() + 180
        while len(probe.clock) < 10 or not probe.node.count_publishers('camera/image_raw'):
            if time.monotonic() > deadline or up.poll() is not None:
                raise RuntimeError(f'{name}: the cell did not come up; see {work}/up.log')
            time.sleep(0.2)
        if name == 'page open in headless chromium':
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
            opts = webdriver.ChromeOptions()
            opts.binary_location = '/usr/bin/chromium'
            for arg in ('--headless=new', '--no-sandbox', '--disable-gpu',
                        '--disable-dev-shm-usage', '--window-size=1280,1000'):
                opts.add_argument(arg)
            driver = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=opts)
            driver.get(f'http://127.0.0.1:{port}/')
            deadline = time.monotonic() + 60
            while not driver.execute_script(
                    'return document.getElementById("camera").naturalWidth > 0'):
                if time.monotonic() > deadline:
                    raise RuntimeError('the page showed no camera image within 60 s')
                time.sleep(0.2)
        with SortingCell(context=ctx, server_timeout=180.0) as cell:
            probe.recording = True
            t0 = time.monotonic()
            out = cell.sort(num_boxes=args.boxes, timeout=600)
            sort_s = time.monotonic() - t0
            probe.recording = False
        lat = probe.latencies_ms()
        if driver is not None:   # the page really was live all along
            assert driver.find_element('id', 'conn').text == 'live'
        return {'condition': name, 'sort_s': round(sort_s, 2), 'status': out.status,
                'placed': sum(o.reason.startswith('placed') for o in out.objects),
                'objects': len(out.objects), 'frames': int(lat.size),
                'latency_ms_p50': round(float(np.percentile(lat, 50)), 2) if lat.size else None,
                'latency_ms_p90': round(float(np.percentile(lat, 90)), 2) if lat.size else None}
    finally:
        if driver is not None:
            driver.quit()
        probe.executor.shutdown(timeout_sec=2.0)
        rclpy.try_shutdown(context=ctx)
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGINT)
            try:
                up.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--objects', type=int, default=4)
    ap.add_argument('--boxes', type=int, default=2)
    ap.add_argument('--seed', type=int, default=3)
    ap.add_argument('--out', default=str(RESULTS / 'ui_overhead.json'))
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    rows = []
    for i, name in enumerate(CONDITIONS):
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(run_condition(name, args, Path(tmp), 150 + os.getpid() % 40 + i))
        print(json.dumps(rows[-1]), flush=True)
    result = {'what': 'sim cell, one sort per condition; image latency = camera frame receipt '
                      '(wall) minus the wall time its sim-time stamp was published on /clock',
              'objects': args.objects, 'boxes': args.boxes, 'seed': args.seed,
              'load_average_before': [round(v, 1) for v in load0],
              'load_average_after': [round(v, 1) for v in os.getloadavg()],
              'cpus': os.cpu_count(), 'machine': platform.platform(), 'conditions': rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + '\n')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
