"""The whole sorting cell on a full ROS 2 Jazzy install (launch is not on PyPI).

    ros2 launch sorting_cell cell.launch.py manipulator:=sim use_sim:=true
    ros2 launch sorting_cell cell.launch.py manipulator:=my_arm.driver:make_manipulator

Nodes: camera (or the simulator and cell_frames, which puts the simulated cell's frames on
tf), proposals, clustering, sorter; each reads config/<node>.yaml. Here (PyPI ROS) the tests
start the same nodes as processes instead. A real arm: robot.launch.py.
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node, PushRosNamespace


def _config(name: str) -> str:
    return str(Path(get_package_share_directory('sorting_cell')) / 'config' / f'{name}.yaml')


def generate_launch_description() -> LaunchDescription:
    namespace = LaunchConfiguration('namespace')
    use_sim = LaunchConfiguration('use_sim')
    args = [
        DeclareLaunchArgument('namespace', default_value='', description='Cell namespace'),
        DeclareLaunchArgument('use_sim', default_value='false',
                              description='Simulated cell (sim node) instead of a camera'),
        DeclareLaunchArgument('manipulator', default_value='none',
                              description="none | sim | package.module:factory"),
        DeclareLaunchArgument('sort_log_dir', default_value='',
                              description="Sort log directory ('' = default)"),
        DeclareLaunchArgument('num_boxes', default_value='4',
                              description='Boxes for the detections stream (clustering)'),
    ]

    def node(name: str, condition=None, **overrides) -> Node:
        return Node(package='sorting_cell', executable=name, name=name,
                    output='screen', parameters=[_config(name), overrides],
                    condition=condition)

    group = GroupAction([
        PushRosNamespace(namespace),
        node('camera', condition=UnlessCondition(use_sim)),
        node('sim', condition=IfCondition(use_sim)),
        node('cell_frames', condition=IfCondition(use_sim), source='sim',
             num_boxes=LaunchConfiguration('num_boxes')),
        node('proposals'),
        node('clustering', num_boxes=LaunchConfiguration('num_boxes')),
        node('sorter', manipulator=LaunchConfiguration('manipulator'),
             sort_log_dir=LaunchConfiguration('sort_log_dir')),
    ])
    return LaunchDescription(args + [group])
