"""cell_frames node: the cell's coordinate frames on tf, and its boxes as RViz markers.

Publishes
- ``/tf_static`` (latched, tf2_msgs/TFMessage): ``world -> base`` (``world_to_base``),
  ``base -> table -> camera optical frame`` (from the calibration file of a real cell, or the
  simulator's true camera pose; when the cell config names ``frames.camera_root``, the
  camera driver's own root frame, the calibration is attached there instead, composed with
  the driver's ``camera_root -> optical`` from tf), ``base -> box<i>`` (centre of each
  box's floor, x along its yaw);
- ``/tf`` ``base -> tcp`` from ``joint_states`` (simulator only: forward kinematics of the
  simulated arm; on a real robot its robot_state_publisher publishes the TCP);
- ``boxes/markers`` visualization_msgs/MarkerArray (latched): each box as an outline cube and
  its index.

``source`` chooses where the frames come from: ``sim`` (the simulated cell built with
``num_boxes``) or ``cell_config`` (a real cell's configuration file, see
:mod:`sorting_cell.cell_config`).

Run: ``python -m sorting_cell.nodes.cell_frames --ros-args -p source:=sim``.
"""
from __future__ import annotations

import sys
import time

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from visualization_msgs.msg import MarkerArray

from sorting_cell.transforms import invert, make_transform

from . import _rosio
from .markers import box_markers
from .params import check_choices, declare
from .qos import latched_qos, result_qos
from .tf import (FrameLookupError, StaticTransformBroadcaster, TransformBroadcaster,
                 TransformListener)

__all__ = ['CellFramesNode', 'main', 'SOURCES']

SOURCES = ('sim', 'cell_config')


class CellFramesNode(Node):
    """Static frames of the cell (see the module docstring)."""

    def __init__(self, **kwargs):
        super().__init__('cell_frames', **kwargs)
        self.source = declare(self, 'source', 'sim', 'where the frames come from',
                              read_only=True, choices=SOURCES)
        cell_config = declare(self, 'cell_config', '', "cell configuration file (source "
                              "'cell_config')", read_only=True)
        self.world_frame = declare(self, 'world_frame', 'world', 'fixed frame above the base',
                                   read_only=True)
        self.base_frame = declare(self, 'base_frame', 'base_link', 'robot base frame',
                                  read_only=True)
        self.table_frame = declare(self, 'table_frame', 'table', 'table frame',
                                   read_only=True)
        self.camera_frame = declare(self, 'camera_frame', 'camera_optical_frame', "camera "
                                    "optical frame (sim: the sim node's frame_id)",
                                    read_only=True)
        self.tcp_frame = declare(self, 'tcp_frame', 'tcp', 'TCP frame (sim)', read_only=True)
        num_boxes = declare(self, 'num_boxes', 4, 'boxes of the simulated cell (sim)',
                            read_only=True, min_value=1, max_value=8)
        self.add_on_set_parameters_callback(lambda ps: check_choices(ps, {'source': SOURCES}))
        if self.source not in SOURCES:
            raise ValueError(f'source must be one of {SOURCES}, got {self.source!r}')
        self.static = StaticTransformBroadcaster(self)
        self.dynamic = TransformBroadcaster(self)
        self._markers = self.create_publisher(MarkerArray, 'boxes/markers', latched_qos())
        self._fk = None
        self._camera_root = ''
        if self.source == 'sim':
            transforms, boxes = self._from_sim(num_boxes)
        else:
            transforms, boxes = self._from_cell_config(cell_config)
        transforms += [(self.base_frame, f'box{i}', T) for i, (T, _) in enumerate(boxes)]
        if self._camera_root:
            # the optical frame already hangs below the driver's root frame: attach the
            # calibration there once the driver's chain is known
            camera = next(t for t in transforms if t[1] == self.camera_frame)
            transforms.remove(camera)
            self._pending_camera = camera
            self._tf = TransformListener(self)
            self._waiting_since = time.monotonic()
            self._root_timer = self.create_timer(0.2, self._attach_camera_root)
        self.static.send(transforms)
        self._markers.publish(box_markers(self.base_frame, boxes,
                                          self.get_clock().now().to_msg()))
        self.get_logger().info(f'/tf_static: {len(transforms)} transforms ({self.source}): '
                               + ', '.join(f'{p}->{c}' for p, c, _ in transforms))

    def _from_sim(self, num_boxes: int):
        import mujoco

        from sorting_cell.sim.cell import build_cell
        model, data, info = build_cell(num_boxes=num_boxes, n_objects=0)
        # In the simulated cell the world frame is the arm's base frame and the table top is
        # z = 0 of both.
        transforms = [(self.world_frame, self.base_frame, np.eye(4)),
                      (self.base_frame, self.table_frame, np.eye(4)),
                      (self.table_frame, self.camera_frame, info.camera.T_world_camera)]
        boxes = [(make_transform([[np.cos(b.yaw), -np.sin(b.yaw), 0],
                                  [np.sin(b.yaw), np.cos(b.yaw), 0], [0, 0, 1]], b.center),
                  (b.inner_size[0], b.inner_size[1], b.wall_height)) for b in info.boxes]
        names = list(info.arm_joint_names) + list(info.gripper_joint_names)
        self._fk = (model, data, info.ee_site,
                    {n: int(model.jnt_qposadr[model.joint(n).id]) for n in names}, mujoco)
        self.create_subscription(JointState, 'joint_states', self._on_joint_states,
                                 result_qos())
        return transforms, boxes

    def _from_cell_config(self, path: str):
        from sorting_cell.cell_config import CellConfig
        if not path:
            raise ValueError("source 'cell_config' needs the cell_config parameter (the cell's "
                             'configuration file)')
        cfg = CellConfig.load(path)
        calib = cfg.calibration()
        f = cfg.frames
        transforms = [(f.world, f.base, cfg.world_to_base)] if f.world != f.base else []
        transforms += [(f.base if p == calib.base_frame else p,
                        f.camera if c == calib.camera_frame else c, T)
                       for p, c, T in calib.transforms()]
        self.base_frame, self.camera_frame, self._camera_root = f.base, f.camera, f.camera_root
        boxes = [(b.transform(), b.size) for b in cfg.boxes]
        return transforms, boxes

    def _attach_camera_root(self) -> None:
        """Publish ``table -> camera_root`` = calibration composed with the driver's
        ``camera_root -> optical`` once that is on tf."""
        parent, child, T_parent_optical = self._pending_camera
        try:
            T_root_optical = self._tf.lookup(self._camera_root, child)
        except FrameLookupError as exc:
            waited = time.monotonic() - self._waiting_since
            self.get_logger().warning(
                f'waiting for the camera driver\'s {self._camera_root} -> {child} on tf '
                f'({waited:.0f} s): {exc}', throttle_duration_sec=10.0)
            return
        self._root_timer.cancel()
        self.static.send([(parent, self._camera_root, T_parent_optical @ invert(T_root_optical))])
        self.get_logger().info(f'camera calibration attached at {self._camera_root} (the '
                               f'driver publishes {self._camera_root} -> {child})')

    def _on_joint_states(self, msg: JointState) -> None:
        model, data, site, qadr, mujoco = self._fk
        for name, pos in zip(msg.name, msg.position):
            if name in qadr:
                data.qpos[qadr[name]] = pos
        mujoco.mj_kinematics(model, data)
        s = data.site(site)
        T = make_transform(s.xmat.reshape(3, 3), s.xpos)
        self.dynamic.send([(self.base_frame, self.tcp_frame, T)], stamp=msg.header.stamp)


def main(args=None) -> int:
    return _rosio.run(CellFramesNode, args)


if __name__ == '__main__':
    sys.exit(main())
