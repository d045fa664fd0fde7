"""Camera and robot-base calibration with a ChArUco board (ROS-free)."""
from .board import DICTIONARIES, BoardError, CharucoBoardSpec

__all__ = ['CharucoBoardSpec', 'BoardError', 'DICTIONARIES']
