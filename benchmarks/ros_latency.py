"""Image latency and loss between two processes on DDS: default transports vs the SHM profile.

The publisher is the real camera node (``sorting_cell.nodes.camera``, folder source, 640x480
tool images at 30 Hz, loop off, waits for the subscriber before the first frame). The
subscriber is a separate rclpy process that deserialises every ``sensor_msgs/Image`` and
records ``receive time - header.stamp``; the camera stamps each frame right before it builds
and publishes the message, so the latency covers conversion, serialisation, transport,
deserialisation and callback dispatch. Loss = frames the camera published minus frames
received.

Run (takes ~1 min; use an idle machine for publishable figures):
    python benchmarks/ros_latency.py [--frames 150] [--rate 30] [--repeats 1]
Writes benchmarks/results/ros_latency.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / 'config' / 'fastdds_shm.xml'
RESULTS = ROOT / 'benchmarks' / 'results'

CONFIGS = [  # name, SHM profile?, reliable?
    ('default transports, RELIABLE', False, True),
    ('SHM profile, RELIABLE', True, True),
    ('default transports, BEST_EFFORT', False, False),
    ('SHM profile, BEST_EFFORT', True, False),
]


def subscriber(args) -> int:
    """Child process: count frames and latencies, write them as JSON."""
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from sorting_cell.nodes.qos import sensor_qos

    rclpy.init()
    node = Node('latency_probe')
    lat: list[float] = []
    last = [time.monotonic()]

    def on_image(msg: Image) -> None:
        now = time.time_ns()
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        lat.append((now - stamp) / 1e6)
        last[0] = time.monotonic()

    node.create_subscription(Image, 'camera/image_raw', on_image,
                             sensor_qos(best_effort=not args.reliable, depth=5))
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline and len(lat) < args.frames:
            rclpy.spin_once(node, timeout_sec=0.1)
            if lat and time.monotonic() - last[0] > 3.0:
                break  # the stream is over; what did not arrive was lost
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    Path(args.out).write_text(json.dumps({'latency_ms': lat}))
    return 0


def run_config(name: str, shm: bool, reliable: bool, folder: Path, frames: int, rate: float,
               domain: int, tmp: Path) -> dict:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               PYTHONUNBUFFERED='1')
    env.pop('FASTRTPS_DEFAULT_PROFILES_FILE', None)
    env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
    if shm:
        env['FASTRTPS_DEFAULT_PROFILES_FILE'] = str(PROFILE)
    out = tmp / f'sub_{domain}.json'
    sub = subprocess.Popen([sys.executable, __file__, '--role', 'sub', '--out', str(out),
                            '--frames', str(frames), '--timeout', str(frames / rate + 60)]
                           + ([] if reliable else ['--best-effort']), env=env)
    cam = subprocess.Popen(
        [sys.executable, '-m', 'sorting_cell.nodes.camera', '--ros-args',
         '-p', 'source:=folder', '-p', f'folder:={folder}', '-p', 'loop:=false',
         '-p', f'rate_hz:={rate}', '-p', f'reliable:={str(reliable).lower()}',
         '-p', 'wait_for_subscribers:=1', '-p', 'wait_timeout_s:=30.0',
         '--log-level', 'warn'], env=env)
    try:
        sub.wait(timeout=frames / rate + 90)
    finally:
        cam.send_signal(2)
        try:
            cam.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cam.kill()
            cam.wait()
    lat = np.array(json.loads(out.read_text())['latency_ms']) if out.exists() else np.array([])
    row = {'config': name, 'shm_profile': shm, 'reliable': reliable, 'sent': frames,
           'received': int(lat.size), 'lost': int(frames - lat.size)}
    row.update(_stats(lat))
    return row, lat


def _stats(lat: np.ndarray) -> dict:
    if not lat.size:
        return {}
    out = {f'p{q}_ms': round(float(np.percentile(lat, q)), 2) for q in (50, 90, 99)}
    out.update(max_ms=round(float(lat.max()), 2), mean_ms=round(float(lat.mean()), 2))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--role', default='driver', choices=['driver', 'sub'])
    parser.add_argument('--frames', type=int, default=150)
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--out', default='')
    parser.add_argument('--timeout', type=float, default=60.0)
    parser.add_argument('--best-effort', dest='reliable', action='store_false')
    args = parser.parse_args(argv)
    if args.role == 'sub':
        return subscriber(args)

    from sorting_cell.assets import resolve
    from sorting_cell.bags import list_images

    images = list_images(resolve('tools', download=False))
    rows, pooled = [], {name: [] for name, _, _ in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / 'frames'
        folder.mkdir()
        for i in range(args.frames):
            (folder / f'{i:05d}{images[i % len(images)].suffix}').symlink_to(
                images[i % len(images)])
        domain = 100 + os.getpid() % 50
        for rep in range(args.repeats):
            for name, shm, reliable in CONFIGS:
                row, lat = run_config(name, shm, reliable, folder, args.frames, args.rate,
                                      domain, tmp)
                pooled[name].append(lat)
                row['repeat'] = rep
                rows.append(row)
                domain += 1
                print(json.dumps(row), flush=True)
    meta = {'frames': args.frames, 'rate_hz': args.rate, 'image': '640x480 rgb8 (921,600 B)',
            'publisher': 'sorting_cell.nodes.camera (folder source)',
            'machine': f'{platform.node()} {platform.machine()}, {os.cpu_count()} cores',
            'loadavg_1min_at_end': os.getloadavg()[0],
            'date_utc': time.strftime('%Y-%m-%d %H:%M', time.gmtime()),
            'command': 'python benchmarks/ros_latency.py ' + ' '.join(
                f'--{k} {v}' for k, v in (('frames', args.frames), ('rate', args.rate),
                                          ('repeats', args.repeats)))}
    summary = []
    for name, shm, reliable in CONFIGS:
        lat = np.concatenate(pooled[name])
        runs = [r for r in rows if r['config'] == name]
        summary.append({'config': name, 'shm_profile': shm, 'reliable': reliable,
                        'sent': sum(r['sent'] for r in runs),
                        'received': sum(r['received'] for r in runs), **_stats(lat)})
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / 'ros_latency.json').write_text(json.dumps(
        {'meta': meta, 'summary': summary, 'runs': rows}, indent=2) + '\n')
    lines = [f"# Image latency between processes ({meta['image']}, {args.rate:g} Hz)", '',
             f"Publisher: {meta['publisher']}; subscriber: separate rclpy process. "
             f"{meta['machine']}, 1-min load average {meta['loadavg_1min_at_end']:.1f} at the "
             f"end, {meta['date_utc']} UTC. Command: `{meta['command']}`.", '',
             '| transport | received / sent | p50 ms | p90 ms | p99 ms | max ms |',
             '| --- | --- | --- | --- | --- | --- |']
    for r in summary:
        lines.append(f"| {r['config']} | {r['received']} / {r['sent']} | "
                     f"{r.get('p50_ms', '-')} | {r.get('p90_ms', '-')} | "
                     f"{r.get('p99_ms', '-')} | {r.get('max_ms', '-')} |")
    if meta['loadavg_1min_at_end'] > (os.cpu_count() or 1):
        lines += ['', '**Taken on a busy machine (load above the core count): tails and '
                  'medians are inflated; rerun on an idle machine for reference figures.**']
    lines += ['', f'All {args.repeats} repeat(s) pooled; per-run rows in ros_latency.json. '
              'Loss is counted frame by frame (camera published vs subscriber received).']
    (RESULTS / 'ros_latency.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
