"""Does the ROS path perceive what the offline pipeline perceives? Measured on the same frames.

The frames are written to a rosbag2 file and replayed as a camera stream through the
proposals and clustering node processes a user launches (real DDS); the clustering node
accumulates one object per frame and clusters the window. The same frames go through
``SortingPipeline.sort_images`` in this process. Both NMIs against the classes are
returned (``sorting-cell bench replay`` writes them as JSON).
"""
from __future__ import annotations

import io
import os
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ['compare_offline_and_nodes']

_START_NS = 1_000_000_000_000


def compare_offline_and_nodes(images: Sequence[Path], labels: Sequence[int], n_boxes: int, *,
                              background_frames: int = 24, rate_hz: float = 8.0,
                              timeout_s: float = 300.0, workdir: str | os.PathLike | None = None,
                              domain_id: int | None = None) -> dict:
    """NMI of the offline pipeline and of the node graph on ``images`` (one object each).

    ``background_frames``: how many first frames of the stream the proposals node learns
    the empty table from (the offline pipeline learns it from all frames).

    Raises ``TimeoutError`` (with the nodes' logs) when the nodes do not cluster every
    frame within ``timeout_s``, ``RuntimeError`` when a node dies.
    """
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from ..pipeline import SortingPipeline

    labels = np.asarray(labels)
    t0 = time.perf_counter()
    offline = SortingPipeline(n_clusters=n_boxes).sort_images(list(images))
    t_offline = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(workdir or tmp)
        t0 = time.perf_counter()
        boxes, index = _through_nodes(images, n_boxes, work, background_frames, rate_hz,
                                      timeout_s, domain_id)
        t_nodes = time.perf_counter() - t0
    return {
        'frames': len(images), 'boxes': n_boxes, 'background_frames': background_frames,
        'offline': {'nmi': float(nmi(labels, offline.labels)), 'seconds': t_offline,
                    'decisions': {k: v.as_dict() for k, v in offline.decisions.items()}},
        'nodes': {'nmi': float(nmi(labels[index], boxes)), 'seconds': t_nodes},
        'same_frames': sorted(index.tolist()) == list(range(len(images))),
    }


def _through_nodes(images, n_boxes, work: Path, background_frames: int, rate_hz: float,
                   timeout_s: float, domain_id: int | None) -> tuple[np.ndarray, np.ndarray]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import Bool

    from sorting_cell_interfaces.msg import ClusterAssignments

    from .. import bags
    from ..bringup import NodeSpec, Supervisor, find_config, local_env
    from .qos import latched_qos, result_qos

    bags.write_image_bag(work / 'bag', list(images), rate_hz=rate_hz, start_ns=_START_NS)
    domain = domain_id if domain_id is not None else 1 + os.getpid() % 200
    env = local_env(domain)
    depth = str(max(200, len(images) + 10))

    def spec(name: str, **params) -> NodeSpec:
        return NodeSpec(name, f'sorting_cell.nodes.{name}', find_config(f'{name}.yaml'),
                        {k: str(v).lower() if isinstance(v, bool) else str(v)
                         for k, v in params.items()})

    perception = Supervisor([
        spec('proposals', background_frames=background_frames, queue_depth=depth),
        spec('clustering', num_boxes=n_boxes, window=depth, main_only=True, queue_depth=depth),
    ], env=env, log_dir=work / 'logs', monitor=False, out=io.StringIO())
    replay = Supervisor([spec('replay', bag=work / 'bag', wait_for_subscribers=1,
                              wait_timeout_s=60.0, queue_depth=depth, exit_at_end=True)],
                        env=env, log_dir=work / 'logs', monitor=False, out=io.StringIO())
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    got: list = []
    ready: list = []
    try:
        node = Node('replay_check_probe', context=ctx)
        node.create_subscription(ClusterAssignments, 'assignments', got.append,
                                 result_qos(int(depth)))
        node.create_subscription(Bool, 'clustering/ready', lambda m: ready.append(m.data),
                                 latched_qos())
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        perception.start()
        deadline = time.monotonic() + timeout_s
        # The stream must not start before the clustering model is loaded and listening.
        while not (ready and ready[-1]):
            _spin_or_fail(executor, perception, deadline, 'the clustering model to load')
        replay.start()
        while not (got and len(got[-1].object_ids) >= len(images)):
            _spin_or_fail(executor, perception, deadline,
                          f'{len(images)} objects to be clustered '
                          f'({len(got[-1].object_ids) if got else 0} so far)')
        executor.shutdown()
    finally:
        for sup in (replay, perception):
            if sup.children:
                sup.shutdown()
        rclpy.try_shutdown(context=ctx)
    last = got[-1]
    period = 1e9 / rate_hz
    index = np.array([round((s.sec * 10**9 + s.nanosec - _START_NS) / period)
                      for s in last.stamps])
    return np.asarray(last.boxes), index


def _spin_or_fail(executor, sup, deadline: float, what: str) -> None:
    executor.spin_once(timeout_sec=0.2)
    dead = sup.poll()
    if dead:
        raise RuntimeError(f'{", ".join(dead)} died while waiting for {what}:\n'
                           + '\n'.join(sup.log_tail(n) for n in dead))
    if time.monotonic() > deadline:
        raise TimeoutError(f'timed out waiting for {what}:\n'
                           + '\n'.join(sup.log_tail(n) for n in sup.children))
