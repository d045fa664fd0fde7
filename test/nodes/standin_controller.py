"""Stands in for a robot's ros2_control driver in tests: the hardware edge, on the real protocol.

A real rclpy process serving ``<controller>/follow_joint_trajectory``
(control_msgs/action/FollowJointTrajectory) and ``<gripper>/gripper_cmd``
(control_msgs/action/GripperCommand) and publishing ``joint_states``, whose trajectory goals
follow a script, one entry per goal (parameter ``modes``; after the script: ``ok``):

- ``ok``: move to the last point (joint states follow) and succeed;
- ``reject``: refuse the goal;
- ``abort``: accept, report feedback, move part way, abort with PATH_TOLERANCE_VIOLATED;
- ``hang``: accept and never finish (until cancelled: then hold and report cancelled);
- ``vanish``: accept, then the action server is destroyed mid-goal (the controller was
  unloaded); the goal never ends.

Gripper goals always succeed at once (``reached_goal``). Run with
``python -m standin_controller --ros-args --params-file <yaml>`` (``test/nodes`` on
``PYTHONPATH``); it logs ``standin ready`` when its servers are up.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import rclpy
import rclpy.task
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import JointState

from sorting_cell.sim.cell import ARM_JOINTS, FINGER_JOINTS, HOME_QPOS


class StandInController(Node):
    def __init__(self):
        super().__init__('standin_controller')
        self.modes = [m for m in self.declare_parameter('modes', ['ok']).value if m]
        controller = self.declare_parameter('controller', 'joint_trajectory_controller').value
        gripper = self.declare_parameter('gripper', 'gripper_controller').value
        self.q = HOME_QPOS.copy()
        self.width = 0.08
        self.lock = threading.Lock()
        self.goals = 0
        self.pub = self.create_publisher(JointState, 'joint_states', 10)
        self.create_timer(0.02, self._publish)
        group = ReentrantCallbackGroup()
        self.arm = ActionServer(self, FollowJointTrajectory,
                                f'{controller}/follow_joint_trajectory', self._execute,
                                goal_callback=self._on_goal,
                                cancel_callback=lambda _: CancelResponse.ACCEPT,
                                callback_group=group)
        self.grip = ActionServer(self, GripperCommand, f'{gripper}/gripper_cmd', self._grip,
                                 callback_group=group)
        self.get_logger().info(f'standin ready: modes {self.modes}')

    def _publish(self):
        with self.lock:
            msg = JointState(name=list(ARM_JOINTS) + list(FINGER_JOINTS),
                             position=[*map(float, self.q), self.width / 2, -self.width / 2])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub.publish(msg)

    def _mode(self) -> str:
        with self.lock:
            k = self.goals
        return self.modes[k] if k < len(self.modes) else 'ok'

    def _on_goal(self, goal) -> GoalResponse:
        if self._mode() == 'reject':
            self.get_logger().info('goal rejected (script)')
            with self.lock:
                self.goals += 1
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    async def _execute(self, handle):
        # A coroutine: a 'vanish' goal awaits forever without holding an executor thread
        # (an action server whose callback is running cannot be destroyed).
        mode = self._mode()
        with self.lock:
            self.goals += 1
        traj = handle.request.trajectory
        order = [list(traj.joint_names).index(j) for j in ARM_JOINTS]
        end = np.array(traj.points[-1].positions)[order]
        R = FollowJointTrajectory.Result
        self.get_logger().info(f'goal {self.goals}: {mode}')
        if mode == 'abort':
            handle.publish_feedback(FollowJointTrajectory.Feedback(joint_names=list(ARM_JOINTS)))
            time.sleep(0.2)
            with self.lock:
                self.q = self.q + 0.3 * (end - self.q)
            handle.abort()
            return R(error_code=R.PATH_TOLERANCE_VIOLATED,
                     error_string='shoulder_pan_joint is 0.2100 rad from its setpoint')
        if mode == 'vanish':
            timer = None

            def unload():
                timer.cancel()
                self.get_logger().info('unloading the controller mid-goal (script)')
                self.arm.destroy()
            timer = self.create_timer(0.3, unload)
            await rclpy.task.Future()   # this goal never ends
        if mode == 'hang':
            while not handle.is_cancel_requested:
                time.sleep(0.02)
            self.get_logger().info('cancel received: holding')
            handle.canceled()
            return R(error_code=R.SUCCESSFUL)
        time.sleep(0.05)
        with self.lock:
            self.q = end
        handle.succeed()
        return R(error_code=R.SUCCESSFUL)

    def _grip(self, handle):
        target = float(handle.request.command.position)
        with self.lock:
            self.width = target
        handle.succeed()
        return GripperCommand.Result(position=target, effort=0.0, stalled=False,
                                     reached_goal=True)


def main() -> None:
    rclpy.init()
    node = StandInController()
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
