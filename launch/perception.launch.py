"""Perception only: camera -> proposals -> clustering (assignments for N boxes).

    ros2 launch sorting_cell perception.launch.py num_boxes:=7
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def _config(name: str) -> str:
    return str(Path(get_package_share_directory('sorting_cell')) / 'config' / f'{name}.yaml')


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument('num_boxes', default_value='4'),
        Node(package='sorting_cell', executable='camera', name='camera',
             parameters=[_config('camera')], output='screen'),
        Node(package='sorting_cell', executable='proposals', name='proposals',
             parameters=[_config('proposals')], output='screen'),
        Node(package='sorting_cell', executable='clustering', name='clustering',
             parameters=[_config('clustering'),
                         {'num_boxes': LaunchConfiguration('num_boxes')}],
             output='screen'),
    ])
