"""The simulated cell (MuJoCo): arm, gripper, boxes, overhead RGB-D camera and objects.

ROS-free. Object families and poses are ground truth: only tests and benchmarks read them.
"""
from .cell import BoxInfo, CameraSpec, CellInfo, ObjectTruth, build_cell
from .objects import FAMILY_NAMES
from .world import JointTrajectory, SimWorld, TrajectoryError

__all__ = ['build_cell', 'CellInfo', 'BoxInfo', 'CameraSpec', 'ObjectTruth', 'SimWorld',
           'JointTrajectory', 'TrajectoryError', 'FAMILY_NAMES']
