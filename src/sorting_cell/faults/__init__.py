"""The fault matrix's ROS-free parts: judging a case from the simulator's ground truth and the
sort log (:mod:`.score`). The cases and the cell they run on are in
:mod:`sorting_cell.nodes.fault_matrix` (they need rclpy)."""
from .score import FaultScore, Outcome, score_case

__all__ = ['FaultScore', 'Outcome', 'score_case']
