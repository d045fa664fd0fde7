"""Snapshot-to-assignments time for a 28-object scene, through the ROS nodes on DDS.

Three measurements of the same 640x480 scene (28 objects of 7 kinds on a textured table,
synthetic, seeded -- test/nodes/scenes.py), mobilenet_v2 + agglomerative, 7 boxes:

1. core: ``SortingPipeline.sort_scene`` in this process (no ROS), the floor.
2. action: the sorter node (separate process, manipulator 'none') serving SortObjects
   goals with ``dry_run``; the camera node (separate process) publishes the scene at 10 Hz.
   ``perception_seconds`` (sorter: arrival of the first image after the goal -> boxes
   assigned) and the client's goal-sent -> result-received wall time.
3. stream: camera -> proposals node -> clustering node (three processes); latency of each
   assignments message = its arrival at a probe - the camera's header stamp of the frame.
   The camera runs at 0.5 Hz so frames do not queue behind each other.

Run (about 1-2 min; on an idle machine for publishable figures):
    python benchmarks/ros_snapshot_to_assignments.py [--goals 8] [--frames 8]
Writes benchmarks/results/ros_snapshot_to_assignments.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results'
sys.path.insert(0, str(ROOT / 'test' / 'nodes'))   # scenes.py (scene generator), rosproc.py

N_OBJECTS, N_KINDS = 28, 7


def _stats(xs) -> dict:
    a = np.asarray(xs, float)
    return {'n': int(a.size), 'median': float(np.median(a)), 'p90': float(np.percentile(a, 90)),
            'min': float(a.min()), 'max': float(a.max())}


def bench_core(scene, repeats: int) -> dict:
    from sorting_cell.pipeline import SortingPipeline
    from sorting_cell.features import make_extractor
    ext = make_extractor('mobilenet_v2')
    ext.transform([scene.frame[:64, :64]])            # load weights outside the timing
    times, found = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = SortingPipeline(n_clusters=N_KINDS, features=ext).sort_scene(
            scene.frame, background=scene.background)
        times.append(time.perf_counter() - t0)
        found = len(r.items)
    return {'seconds': _stats(times), 'objects_found': found}


def bench_action(scene, workdir: Path, domain: int, goals: int) -> dict:
    import rclpy
    from rosproc import NodeProcess
    from sorting_cell.client import SortingCell

    cam_dir = workdir / 'cam'
    cam_dir.mkdir()
    cv2.imwrite(str(cam_dir / 'scene.png'), scene.frame[:, :, ::-1])
    cv2.imwrite(str(workdir / 'background.png'), scene.background[:, :, ::-1])
    procs = [NodeProcess('sorting_cell.nodes.camera', {'source': 'folder',
                                                       'folder': str(cam_dir),
                                                       'rate_hz': 10.0}, workdir, domain),
             NodeProcess('sorting_cell.nodes.sorter', {
                 'background_path': str(workdir / 'background.png'),
                 'sort_log_dir': str(workdir / 'sortlog')}, workdir, domain)]
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    perception, wall, found = [], [], 0
    try:
        for p in procs:
            p.start()
        procs[1].wait_log('mobilenet_v2 ready', 120)
        with SortingCell(context=ctx, server_timeout=60.0) as cell:
            cell.sort(num_boxes=N_KINDS, dry_run=True, timeout=120)   # warm-up goal
            for _ in range(goals):
                t0 = time.perf_counter()
                out = cell.sort(num_boxes=N_KINDS, dry_run=True, timeout=120)
                wall.append(time.perf_counter() - t0)
                if out.status != 'succeeded':
                    raise RuntimeError(f'goal {out.status}: {out.message}')
                perception.append(out.perception_seconds)
                found = len(out.objects)
    finally:
        for p in procs:
            p.stop()
        rclpy.try_shutdown(context=ctx)
    return {'perception_seconds': _stats(perception), 'goal_wall_seconds': _stats(wall),
            'objects_found': found}


def bench_stream(scene, workdir: Path, domain: int, frames: int) -> dict:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rosproc import NodeProcess
    from sorting_cell.nodes.conversions import numpy_to_image
    from sorting_cell.nodes.qos import latched_qos, result_qos
    from sensor_msgs.msg import Image
    from sorting_cell_interfaces.msg import ClusterAssignments

    cam_dir = workdir / 'cam'
    procs = [NodeProcess('sorting_cell.nodes.proposals', {}, workdir, domain),
             NodeProcess('sorting_cell.nodes.clustering', {'num_boxes': N_KINDS}, workdir,
                         domain),
             NodeProcess('sorting_cell.nodes.camera', {'source': 'folder',
                                                       'folder': str(cam_dir),
                                                       'rate_hz': 0.5}, workdir, domain,
                         name='camera_slow')]
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    lat, sizes = [], []
    try:
        node = Node('bench_probe', context=ctx)
        bg = node.create_publisher(Image, 'camera/background', latched_qos())
        bg.publish(numpy_to_image(scene.background))

        def on_assign(msg):
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            lat.append((time.time_ns() - stamp) / 1e9)
            sizes.append(len(msg.object_ids))

        node.create_subscription(ClusterAssignments, 'assignments', on_assign, result_qos())
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(node)
        procs[0].start()
        procs[1].start()
        procs[1].wait_log('mobilenet_v2 ready', 120)
        procs[0].wait_log('background model fitted', 60)
        procs[2].start()
        deadline = time.monotonic() + 60 + frames * 4
        while len(lat) < frames + 1 and time.monotonic() < deadline:
            ex.spin_once(timeout_sec=0.1)
        ex.shutdown()
    finally:
        for p in procs:
            p.stop()
        rclpy.try_shutdown(context=ctx)
    if len(lat) < 2:
        raise RuntimeError('the stream produced fewer than 2 assignments messages')
    return {'latency_seconds': _stats(lat[1:]), 'objects_found': int(np.median(sizes))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--goals', type=int, default=8)
    ap.add_argument('--frames', type=int, default=8)
    ap.add_argument('--repeats', type=int, default=8, help='core (in-process) repeats')
    args = ap.parse_args(argv)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    from scenes import make_scene
    scene = make_scene(n_objects=N_OBJECTS, n_kinds=N_KINDS, seed=1)
    domain = 1 + os.getpid() % 200
    with tempfile.TemporaryDirectory() as tmp:
        core = bench_core(scene, args.repeats)
        action = bench_action(scene, Path(tmp), domain, args.goals)
        stream = bench_stream(scene, Path(tmp), domain, args.frames)
    load = os.getloadavg()[0]
    result = {'scene': f'{N_OBJECTS} objects, {N_KINDS} kinds, 640x480, synthetic seed 1',
              'features': 'mobilenet_v2', 'method': 'agglomerative', 'boxes': N_KINDS,
              'core': core, 'action': action, 'stream': stream,
              'machine': f'{platform.machine()}, {os.cpu_count()} cores',
              'load_average_1min_at_end': load,
              'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
              'command': 'python benchmarks/ros_snapshot_to_assignments.py '
                         f'--goals {args.goals} --frames {args.frames} --repeats {args.repeats}'}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / 'ros_snapshot_to_assignments.json').write_text(json.dumps(result, indent=2))

    def row(name, s, found):
        return (f'| {name} | {found} | {s["n"]} | {s["median"]:.3f} | {s["p90"]:.3f} | '
                f'{s["min"]:.3f} | {s["max"]:.3f} |')
    md = [f'# Snapshot-to-assignments, {result["scene"]}',
          '',
          f'mobilenet_v2 + agglomerative, {N_KINDS} boxes. {result["machine"]}, 1-min load '
          f'average {load:.1f} at the end, {result["date"]}. Command: `{result["command"]}`.',
          '',
          '| path | objects found | n | median s | p90 s | min s | max s |',
          '| --- | --- | --- | --- | --- | --- | --- |',
          row('core `sort_scene` in-process (no ROS)', core['seconds'],
              core['objects_found']),
          row('sorter action: snapshot arrival -> boxes (perception_seconds)',
              action['perception_seconds'], action['objects_found']),
          row('sorter action: client goal -> result (dry run)', action['goal_wall_seconds'],
              action['objects_found']),
          row('stream: camera stamp -> assignments at a probe (camera, proposals, '
              'clustering processes)', stream['latency_seconds'], stream['objects_found']),
          '']
    (RESULTS / 'ros_snapshot_to_assignments.md').write_text('\n'.join(md))
    print('\n'.join(md))
    return 0


if __name__ == '__main__':
    sys.exit(main())
