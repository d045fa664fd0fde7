"""Camera and robot-base calibration with a ChArUco board (ROS-free).

``BoardPoseEstimator`` finds the board in the camera's images, ``TouchCalibration`` finds it
in the robot base frame from corners touched with the tool tip, and ``Calibration`` holds the
resulting static transforms (base -> table -> camera optical frame) as a YAML file.
"""
from .board import DICTIONARIES, BoardError, CharucoBoardSpec
from .camera_pose import BoardNotFound, BoardPoseEstimator, detect_corners
from .result import Calibration, CalibrationError, board_to_table
from .touch import TouchCalibration, TouchError, TouchPoint, default_touch_corners

__all__ = ['CharucoBoardSpec', 'BoardError', 'DICTIONARIES', 'BoardPoseEstimator',
           'BoardNotFound', 'detect_corners', 'Calibration', 'CalibrationError',
           'board_to_table', 'TouchCalibration', 'TouchError', 'TouchPoint',
           'default_touch_corners']
