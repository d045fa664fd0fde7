"""A real cell on a full ROS 2 Jazzy install: the arm, gripper and camera already run under
their own drivers (ur_robot_driver, franka_ros2, realsense2_camera...).

    ros2 launch sorting_cell robot.launch.py config:=/path/to/my_cell.yaml

Starts the same node set, with the same parameters and topic remappings, as
``sorting-cell up robot --config my_cell.yaml`` (both come from
``sorting_cell.bringup.robot_node_set``): cell_frames (calibration and boxes on
/tf_static), proposals, clustering, sorter, and the camera node when the config's
``camera.driver`` is ``opencv``.
"""
import yaml
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node, PushRosNamespace


def _nodes(context):
    from sorting_cell.bringup import robot_node_set
    from sorting_cell.cell_config import CellConfig

    config = CellConfig.load(LaunchConfiguration('config').perform(context))
    config.calibration()   # a missing or half calibration stops the launch with its reason
    nodes = []
    for spec in robot_node_set(config):
        # the bring-up passes values as command-line text; launch wants typed values ('' is
        # an empty string, not YAML's null)
        params = {k: yaml.safe_load(v) if v != '' else '' for k, v in spec.overrides.items()}
        files = [str(spec.params_file)] if spec.params_file else []
        nodes.append(Node(package='sorting_cell', executable=spec.name, name=spec.name,
                            output='screen', parameters=files + [params],
                            remappings=list(spec.remaps.items())))
    return [GroupAction([PushRosNamespace(LaunchConfiguration('namespace')), *nodes])]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument('config', description='the cell configuration file (see '
                              'config/robots/ur5e.yaml)'),
        DeclareLaunchArgument('namespace', default_value='', description='Cell namespace'),
        OpaqueFunction(function=_nodes),
    ])
