"""MoveIt 2 (moveit_py) planner adapter for a real arm, behind the same Manipulator interface.

NOT RUNNABLE HERE: MoveIt 2 cannot be installed on these machines (no Debian/PyPI
packages), so this module is not exercised by the tests or benchmarks. It is written
against the moveit_py API of MoveIt 2 Jazzy (``moveit.planning.MoveItPy``,
``PlanningComponent.set_goal_state / plan``, ``MoveItPy.execute``) and imports it only when
:class:`MoveItManipulator` is constructed, with a clear error when it is missing.

What it shares with the simulated arm: the grasp comes from the same perception code
(:func:`~sorting_cell.manipulation.grasp.plan_grasp`: mask + depth + camera model, never
ground truth), the same box / lane bookkeeping, the same outcome words. What MoveIt does
instead of the in-process stack: IK (the move group's kinematics plugin), collision-free
planning against its planning scene (OMPL pipeline), straight approach / retreat moves
(Pilz ``LIN``), time parametrisation and execution through ros2_control.

Usage on a robot PC with MoveIt 2 and a configured move group (e.g. UR5e + gripper)::

    from sorting_cell.manipulation.moveit import MoveItManipulator
    arm = MoveItManipulator(node, boxes, group='ur_manipulator', tcp_link='tool0',
                            gripper=my_gripper)   # gripper: width(m) -> measured width(m)

and select it in the sorter with ``manipulator: 'mypkg.arm:factory'``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .base import Manipulator, PickOutcome, PickRequest
from .grasp import GraspError, plan_grasp
from .ik import top_down_rotation
from .robot import BoxSpec

__all__ = ['MoveItManipulator']


def _quat_xyzw(rot: np.ndarray) -> tuple[float, float, float, float]:
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(rot).as_quat()
    return float(x), float(y), float(z), float(w)


class MoveItManipulator(Manipulator):
    """Pick and place with MoveIt 2 through moveit_py (see the module docstring).

    Parameters
    ----------
    node : rclpy.node.Node
        Used for logging and the pose messages' clock.
    boxes : list of BoxSpec
    group : str
        Move group (planning component) name.
    tcp_link : str
        Link between the finger pads whose z axis points out of the hand.
    gripper : callable
        ``gripper(width_m) -> measured_width_m``; blocks until the fingers stop (e.g. a
        control_msgs/GripperCommand action client).
    max_opening, empty_width, approach_height, max_attempts : float / int
        As in :class:`~sorting_cell.manipulation.executor.PickConfig`.
    world_frame : str
        Frame of the grasp and box poses (the camera pose is given in it).
    """

    def __init__(self, node, boxes: list[BoxSpec], group: str, tcp_link: str,
                 gripper: Callable[[float], float], max_opening: float = 0.08,
                 empty_width: float = 0.003, approach_height: float = 0.06,
                 max_attempts: int = 2, world_frame: str = 'world',
                 moveit_name: str = 'sorting_cell_moveit'):
        try:
            from moveit.planning import MoveItPy
        except ImportError as exc:  # the case on these machines
            raise ImportError('MoveItManipulator needs MoveIt 2 (moveit_py), which is not '
                              'installed here; use manipulator: sim for the simulated arm') \
                from exc
        self.node = node
        self.boxes = boxes
        self.group, self.tcp_link, self.gripper = group, tcp_link, gripper
        self.max_opening, self.empty_width = max_opening, empty_width
        self.approach_height, self.max_attempts = approach_height, max_attempts
        self.world_frame = world_frame
        self.moveit = MoveItPy(node_name=moveit_name)
        self.arm = self.moveit.get_planning_component(group)
        self._fill = [0.0 for _ in boxes]
        self._stopped = False

    # --------------------------------------------------------------- motions
    def _pose(self, position, yaw: float):
        from geometry_msgs.msg import PoseStamped

        msg = PoseStamped()
        msg.header.frame_id = self.world_frame
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = map(float, position)
        o = msg.pose.orientation
        o.x, o.y, o.z, o.w = _quat_xyzw(top_down_rotation(yaw))
        return msg

    def _go(self, position, yaw: float, straight: bool, what: str) -> None:
        """Plan (OMPL, or Pilz LIN for straight moves) and execute; raise on failure."""
        from moveit.planning import PlanRequestParameters

        if self._stopped:
            raise RuntimeError('stopped: goal cancelled')
        self.arm.set_start_state_to_current_state()
        self.arm.set_goal_state(pose_stamped_msg=self._pose(position, yaw),
                                pose_link=self.tcp_link)
        params = PlanRequestParameters(self.moveit)
        if straight:
            params.planning_pipeline = 'pilz_industrial_motion_planner'
            params.planner_id = 'LIN'
        else:
            params.planning_pipeline = 'ompl'
            params.planner_id = 'RRTConnectkConfigDefault'
        result = self.arm.plan(single_plan_parameters=params)
        if not result:
            raise RuntimeError(f'unreachable: MoveIt found no plan for the {what} at '
                               f'({position[0]:.3f}, {position[1]:.3f}, {position[2]:.3f})')
        self.moveit.execute(result.trajectory, controllers=[])

    # --------------------------------------------------------------- Manipulator
    def pick_and_place(self, request: PickRequest) -> PickOutcome:
        self._stopped = False
        if not 0 <= request.box_index < len(self.boxes):
            return PickOutcome(False, f'invalid_request: box {request.box_index} does not '
                               f'exist (boxes 0..{len(self.boxes) - 1})', attempts=0)
        try:
            grasp = plan_grasp(request.mask, request.depth, request.camera_info,
                               max_opening=self.max_opening,
                               approach_height=self.approach_height)
        except GraspError as exc:
            return PickOutcome(False, exc.reason, attempts=0)
        box = self.boxes[request.box_index]
        if self._fill[request.box_index] + grasp.object_height > \
                box.wall_top_z - box.floor_z - 0.01:
            return PickOutcome(False, f'box_full: box {request.box_index}', attempts=0)
        above = np.array([*grasp.position[:2], grasp.approach_z])
        reason = ''
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.gripper(grasp.width)
                self._go(above, grasp.yaw, False, 'pre-grasp')
                self._go(grasp.position, grasp.yaw, True, 'grasp')
                width = self.gripper(0.0)
                self._go(above, grasp.yaw, True, 'lift')
                if width <= self.empty_width:
                    reason = 'grasp_failed: gripper closed on nothing'
                    continue
                hang = grasp.position[2] - grasp.table_z
                over = (*box.center, box.wall_top_z + hang + 0.03)
                self._go(over, box.yaw, False, f'carry to box {request.box_index}')
                release = (*box.center, box.floor_z + self._fill[request.box_index]
                           + hang + 0.012)
                self._go(release, box.yaw, True, f'release in box {request.box_index}')
                self.gripper(min(self.max_opening, grasp.width + 0.01))
                self._go(over, box.yaw, True, 'retreat')
            except RuntimeError as exc:
                return PickOutcome(False, str(exc), attempts=attempt)
            self._fill[request.box_index] += grasp.object_height
            return PickOutcome(True, f'placed: box {request.box_index}', attempts=attempt,
                               final_position=(box.center[0], box.center[1], box.floor_z))
        return PickOutcome(False, f'{reason} ({self.max_attempts} attempts)',
                           attempts=self.max_attempts)

    def home(self) -> None:
        self.arm.set_start_state_to_current_state()
        self.arm.set_goal_state(configuration_name='home')
        result = self.arm.plan()
        if result:
            self.moveit.execute(result.trajectory, controllers=[])

    def stop(self) -> None:
        self._stopped = True
