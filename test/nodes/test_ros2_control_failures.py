"""The ros2_control arm against a stand-in driver (the hardware edge, real control_msgs actions
in another process) that rejects, aborts mid-trajectory, never finishes and vanishes: every
object's pick outcome says what happened, and nothing waits beyond its deadline.

Prints the outcomes (``-s``) for the record."""
import time

import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosproc import NodeProcess  # noqa: E402

from sorting_cell.manipulation.base import PickRequest  # noqa: E402
from sorting_cell.nodes.ros2_control_arm import make_manipulator  # noqa: E402


@pytest.fixture
def driver(ros, tmp_path):
    proc = NodeProcess('standin_controller', {
        'modes': ['reject', 'ok', 'abort', 'hang', 'vanish']}, tmp_path, ros.domain).start()
    try:
        proc.wait_log('standin ready', 30.0)
        yield proc
    finally:
        proc.stop()


def test_each_failure_is_the_outcome_of_its_object(ros, driver):
    host = ros.add(Node('sorter', context=ros.context, parameter_overrides=[
        Parameter('arm.num_boxes', value=4), Parameter('arm.server_timeout', value=3.0),
        Parameter('arm.timeout_factor', value=1.0),
        # The margin leaves room to notice the vanished server (absent > 1 s) before the
        # vanished goal's own deadline, also on a loaded machine.
        Parameter('arm.timeout_margin', value=6.0)]))
    arm = make_manipulator(host)
    try:
        z = arm.spec.table_z + 0.02
        outcomes, seconds = {}, {}
        for name, xy in [('rejected_obj', (0.45, 0.10)), ('aborted_obj', (0.45, -0.10)),
                         ('hung_obj', (0.50, 0.05)), ('vanished_obj', (0.50, -0.05)),
                         ('orphan_obj', (0.45, 0.0))]:
            t0 = time.monotonic()
            outcomes[name] = arm.pick_and_place(PickRequest(name, 0, position=(*xy, z)))
            seconds[name] = time.monotonic() - t0
        reasons = {k: v.reason for k, v in outcomes.items()}
        for k in reasons:
            print(f'{k}: {reasons[k]} ({seconds[k]:.1f} s)')
        assert not any(o.success for o in outcomes.values()), reasons
        action = '/joint_trajectory_controller/follow_joint_trajectory'
        assert reasons['rejected_obj'] == f'rejected: {action} rejected the trajectory goal'
        assert reasons['aborted_obj'].startswith(f'aborted: {action} aborted the '), reasons
        assert reasons['aborted_obj'].endswith(
            'PATH_TOLERANCE_VIOLATED: shoulder_pan_joint is 0.2100 rad from its setpoint')
        assert reasons['hung_obj'].startswith(f'timed_out: no result from {action} for the '
                                              'trajectory goal within '), reasons
        assert reasons['hung_obj'].endswith('(cancelled)'), reasons
        driver.wait_log('cancel received: holding', 10.0)   # the driver got the cancel
        # A destroyed server's DDS endpoints usually vanish from the graph at once; when
        # they linger, the client cannot tell it from a hung server, and says so.
        vanished, orphan = reasons['vanished_obj'], reasons['orphan_obj']
        assert (vanished.startswith(f'server_gone: {action} vanished while running the '
                                    'trajectory goal')
                or (vanished.startswith(f'timed_out: no result from {action}')
                    and vanished.endswith('(cancel not acknowledged)'))), reasons
        assert (orphan.startswith(f'no_robot: action server {action} not available within '
                                  '3 s')
                or orphan.startswith(f'timed_out: {action} did not answer the trajectory '
                                     'goal within 3 s')), reasons
        # Deadlines: the hung goal at factor 1 x (duration + 0.5 s goal time) + 6 s, the
        # vanished server after ~1 s of absence, the missing one after server_timeout.
        assert seconds['hung_obj'] < 30.0 and seconds['vanished_obj'] < 30.0
        assert seconds['orphan_obj'] < 3.0 + 10.0
        assert driver.alive()
    finally:
        arm.stop()
        arm.backend.close()


def test_trajectory_deadline_runs_on_the_robot_clock_and_ends_when_it_stops():
    """A simulator slower than real time gets its trajectory's room on its own clock, one
    faster than real time gets it on the wall clock; a robot clock that stands still
    (paused or dead simulator) ends the wait after ``stall``."""
    from sorting_cell.nodes.ros2_control_arm import _RobotDeadline

    clock = [100.0]
    slow = _RobotDeadline(lambda: clock[0], 3.0, stall=5.0)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.0:       # 1 wall s, the clock crawling at 0.1x
        clock[0] += 0.001
        assert not slow.passed()
        time.sleep(0.01)
    clock[0] = 103.0
    assert not slow.passed()                  # the robot's 3 s are up, not yet the wall's
    time.sleep(2.1)
    clock[0] = 103.5
    assert slow.passed() and not slow.stalled
    assert slow.describe() == '3.0 s'

    stuck = _RobotDeadline(lambda: clock[0], 2.0, stall=1.5)
    assert not stuck.passed()
    time.sleep(1.6)
    assert stuck.passed() and stuck.stalled
    assert 'the robot clock stood still for 1.5 s' in stuck.describe()
