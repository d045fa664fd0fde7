"""End to end on DDS: sim node (MuJoCo cell, RGB-D camera, arm) + sorter node with the
simulated arm (manipulator 'sim') + the Python client. Nothing is faked.

Like a real cell, the sorter gets an empty-table frame taken before the objects were put
down (here: the same cell rendered without objects).
"""
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'nodes'))
from rosproc import NodeProcess, domain_for  # noqa: E402

from sorting_cell.client import SortingCell  # noqa: E402
from sorting_cell.nodes.qos import latched_qos  # noqa: E402
from sorting_cell.sortlog import SortLog  # noqa: E402

BOXES, OBJECTS, SEED = 2, 4, 3


def _ground_truth(ctx, timeout=30.0) -> dict:
    node = Node('gt_probe', context=ctx)
    got = []
    node.create_subscription(String, 'sim/ground_truth', got.append, latched_qos())
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    deadline = time.monotonic() + timeout
    while not got and time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.1)
    ex.shutdown()
    node.destroy_node()
    assert got, 'no sim/ground_truth from the sim node'
    return json.loads(got[0].data)


def test_sort_simulated_tray_end_to_end(tmp_path):
    os.environ.setdefault('MUJOCO_GL', 'egl')
    from sorting_cell.sim.world import SimWorld
    empty = SimWorld(num_boxes=BOXES, seed=SEED, n_objects=0).render(depth=False).rgb
    cv2.imwrite(str(tmp_path / 'empty.png'), empty[:, :, ::-1])
    domain = domain_for(__name__)
    sim = NodeProcess('sorting_cell.nodes.sim', {
        'num_boxes': BOXES, 'n_objects': OBJECTS, 'seed': SEED, 'real_time_factor': 3.0,
        'camera_rate': 5.0, 'publish_ground_truth': True}, tmp_path, domain)
    sorter = NodeProcess('sorting_cell.nodes.sorter', {
        'manipulator': 'sim', 'background_path': str(tmp_path / 'empty.png'),
        'sort_log_dir': str(tmp_path / 'log'), 'snapshot_timeout': 20.0}, tmp_path, domain)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    try:
        sim.start()
        sorter.start()
        truth = _ground_truth(ctx)
        objects = truth['objects']
        assert len(objects) == OBJECTS
        sorter.wait_log('sort_objects action server ready', 120)
        with SortingCell(context=ctx, server_timeout=60.0) as cell:
            out = cell.sort(num_boxes=BOXES, timeout=300)
        assert out.status == 'succeeded', out.message + sorter.log()[-2000:]
        assert len(out.objects) == OBJECTS, [o.bbox for o in out.objects]
        assert out.success, out.message
        assert all(o.reason.startswith('placed') for o in out.objects)
        # Each outcome is a distinct real object (world positions from depth + camera pose).
        gt_xy = np.array([v['position'][:2] for v in objects.values()])
        seen = set()
        for o in out.objects:
            assert o.position is not None
            d = np.linalg.norm(gt_xy - np.asarray(o.position[:2]), axis=1)
            assert d.min() < 0.04, f'{o.object_id} at {o.position} matches no object'
            seen.add(int(d.argmin()))
        assert len(seen) == OBJECTS
        assert set(o.box for o in out.objects) == set(range(BOXES))
        rec = SortLog(tmp_path / 'log').get(out.sort_id)
        assert rec.state == 'succeeded' and len(rec.placements()) == OBJECTS
    finally:
        sorter.stop()
        sim.stop()
        rclpy.try_shutdown(context=ctx)
