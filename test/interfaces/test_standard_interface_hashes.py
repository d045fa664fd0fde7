"""The venv's control_msgs / tf2_msgs copies carry the official ROS 2 Jazzy type hashes.

The hash (RIHS01) is what DDS endpoints of rclpy compare: equal hashes mean the copy talks
to a real ros2_control controller or tf2 on the wire. Reads the JSON type descriptions that
rosidl installs (``share/<pkg>/<msg|action>/<Type>.json``), so it checks what was built,
whichever environment built it (the project's copy or a real install).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

# Official Jazzy hashes (docs: STANDARD_INTERFACES.md; public Jazzy rosidl headers and bags).
OFFICIAL = {
    'tf2_msgs/msg/TFMessage':
        'RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087',
    'control_msgs/action/FollowJointTrajectory':
        'RIHS01_738ebcb7a2d7cfa42f9f1001cc99ce3a4383d1cfe508015d9be8485e4b1c66f6',
    'control_msgs/action/GripperCommand':
        'RIHS01_e17c0e644eccf14bea84a0a93e0977182872c2eb7873ca6694900059b46dbc84',
}


def _installed_description(type_name: str) -> Path:
    """``share/<pkg>/<kind>/<Type>.json`` from the ament prefixes, else from this venv."""
    import os
    import sys
    pkg, kind, name = type_name.split('/')
    prefixes = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    for prefix in [*prefixes, sys.prefix]:
        path = Path(prefix) / 'share' / pkg / kind / f'{name}.json'
        if path.is_file():
            return path
    pytest.fail(f'no installed type description of {type_name} in {[*prefixes, sys.prefix]}: '
                'run scripts/build_interfaces.sh')


@pytest.mark.parametrize('type_name', sorted(OFFICIAL))
def test_installed_type_hash_is_official(type_name):
    description = json.loads(_installed_description(type_name).read_text())
    hashes = {h['type_name']: h['hash_string'] for h in description['type_hashes']}
    assert hashes[type_name] == OFFICIAL[type_name]


def _hashes(type_name: str) -> dict[str, str]:
    description = json.loads(_installed_description(type_name).read_text())
    return {h['type_name']: h['hash_string'] for h in description['type_hashes']}


def test_live_endpoints_announce_the_installed_hashes():
    """What rclpy announces on the wire (/tf, an action's feedback topic) is what is installed.

    An action's own hash never travels; its feedback message's does, and the action's
    description lists it, so this ties the wire to the official action hash above.
    """
    import os
    import time

    import rclpy
    from rclpy.action import ActionServer
    from rclpy.node import Node

    from control_msgs.action import FollowJointTrajectory, GripperCommand
    from tf2_msgs.msg import TFMessage

    os.environ.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node('hash_probe', context=context)
    try:
        node.create_publisher(TFMessage, 'tf', 1)
        servers = [ActionServer(node, FollowJointTrajectory, 'arm/follow_joint_trajectory',
                                lambda handle: None),
                   ActionServer(node, GripperCommand, 'hand/gripper_cmd', lambda handle: None)]
        expected = {
            '/tf': _hashes('tf2_msgs/msg/TFMessage')['tf2_msgs/msg/TFMessage'],
            '/arm/follow_joint_trajectory/_action/feedback':
                _hashes('control_msgs/action/FollowJointTrajectory')[
                    'control_msgs/action/FollowJointTrajectory_FeedbackMessage'],
            '/hand/gripper_cmd/_action/feedback':
                _hashes('control_msgs/action/GripperCommand')[
                    'control_msgs/action/GripperCommand_FeedbackMessage'],
        }
        seen = {}
        deadline = time.monotonic() + 10.0
        while len(seen) < len(expected) and time.monotonic() < deadline:
            for topic in expected:
                infos = node.get_publishers_info_by_topic(topic)
                if infos:
                    seen[topic] = str(infos[0].topic_type_hash)
            time.sleep(0.02)
        assert seen == expected
        del servers
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
