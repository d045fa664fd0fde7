"""Cell configuration of a real robot: the shipped examples load, bad files get errors that
name the key, and the bring-up turns a config into the robot node set."""
from pathlib import Path

import numpy as np
import pytest
import yaml

from sorting_cell.bringup import ROS2_CONTROL_FACTORY, node_set, robot_node_set
from sorting_cell.calibration import Calibration
from sorting_cell.cell_config import CellConfig, CellConfigError
from sorting_cell.transforms import make_transform

ROBOTS = Path(__file__).resolve().parents[2] / 'config' / 'robots'


@pytest.mark.parametrize('name, controller, gripper, base', [
    ('ur5e.yaml', 'scaled_joint_trajectory_controller', '/robotiq_gripper_controller/gripper_cmd',
     'base_link'),
    ('franka_fr3.yaml', 'fr3_arm_controller', '/franka_gripper/gripper_action', 'fr3_link0'),
])
def test_shipped_robot_configs_load(name, controller, gripper, base):
    cfg = CellConfig.load(ROBOTS / name)
    assert cfg.arm.controller == controller
    assert cfg.arm.action_name == f'/{controller}/follow_joint_trajectory'
    assert cfg.gripper.action == gripper and cfg.frames.base == base
    assert cfg.camera.best_effort and len(cfg.boxes) == 4
    assert len(cfg.arm.joints) == (6 if 'ur5e' in name else 7)


def _valid() -> dict:
    return yaml.safe_load((ROBOTS / 'ur5e.yaml').read_text())


@pytest.mark.parametrize('edit, match', [
    (lambda d: d.pop('arm'), 'arm: missing'),
    (lambda d: d['arm'].pop('controller'), 'arm.controller: missing'),
    (lambda d: d['arm'].update(joints=[]), 'arm.joints: a non-empty list'),
    (lambda d: d['arm'].update(joints=['a', 'a']), 'joint names repeat'),
    (lambda d: d['arm'].update(controler='x'), "arm.controler: unknown key"),
    (lambda d: d.update(gripers={}), 'gripers: unknown key'),
    (lambda d: d['gripper'].update(max_opening='wide'), 'gripper.max_opening: expected float'),
    (lambda d: d['gripper'].update(max_opening=3.0), r'must be in \(0, 0.5\]'),
    (lambda d: d['camera'].update(driver='usb'), 'camera.driver: must be one of'),
    (lambda d: d['camera'].update(best_effort='yes'), 'camera.best_effort: expected bool'),
    (lambda d: d['boxes'][1].update(position=[0, 0]), r'boxes\[1\].position: 3 numbers'),
    (lambda d: d['boxes'][0].update(size=[0.1, 0, 0.1]), r'boxes\[0\].size: sizes must be'),
    (lambda d: d.update(boxes=[]), 'boxes: a non-empty list'),
    (lambda d: d.update(use_sim_time='no'), 'use_sim_time: true or false'),
    (lambda d: d.update(world_to_base={'translation': [0, 0, float('nan')]}), 'finite'),
])
def test_bad_config_names_the_key(edit, match):
    data = _valid()
    edit(data)
    with pytest.raises(CellConfigError, match=match):
        CellConfig.from_dict(data, ROBOTS, 'my_cell.yaml')


def test_missing_or_half_calibration_is_a_clear_error(tmp_path):
    cfg = CellConfig.from_dict(dict(_valid(), calibration='cal.yaml'), tmp_path, 'my_cell.yaml')
    with pytest.raises(CellConfigError, match='no such calibration file'):
        cfg.calibration()
    Calibration(make_transform(translation=[0, 0, 0.6])).save(tmp_path / 'cal.yaml')
    with pytest.raises(CellConfigError, match='calibrate touch'):
        cfg.calibration()


def test_robot_node_set_wires_topics_frames_and_controllers(tmp_path):
    path = tmp_path / 'cell.yaml'
    data = _valid()
    data['use_sim_time'] = True
    path.write_text(yaml.safe_dump(data))
    cfg = CellConfig.load(path)
    specs = {s.name: s for s in robot_node_set(cfg, {'sorter': {'random_state': '3'}})}
    assert list(specs) == ['cell_frames', 'proposals', 'clustering', 'sorter']  # external cam
    prop = specs['proposals']
    assert prop.remaps['camera/image_raw'] == '/camera/camera/color/image_raw'
    assert prop.remaps['camera/depth'] == '/camera/camera/aligned_depth_to_color/image_raw'
    assert prop.overrides['best_effort'] == 'true' and prop.overrides['world_frame'] == 'base_link'
    cmd = specs['sorter'].command('python')
    assert '-r' in cmd and 'camera/camera_info:=/camera/camera/color/camera_info' in cmd
    # no background file: an empty string rcl accepts (it rejects 'background_path:=')
    assert "background_path:=''" in cmd
    sorter = specs['sorter'].overrides
    assert sorter['manipulator'] == ROS2_CONTROL_FACTORY and sorter['random_state'] == '3'
    assert sorter['arm.action'] == '/scaled_joint_trajectory_controller/follow_joint_trajectory'
    assert sorter['arm.joints'].startswith('[shoulder_pan_joint,')
    assert sorter['gripper.action'] == '/robotiq_gripper_controller/gripper_cmd'
    assert sorter['gripper.max_opening'] == '0.085'
    # one name per thing: the backend's parameters, nothing it would ignore
    assert not {'arm.controller', 'frames.base', 'frames.tcp'} & set(sorter)
    assert all(s.overrides['use_sim_time'] == 'true' for s in specs.values())
    assert specs['cell_frames'].overrides['cell_config'] == str(path.resolve())
    data['camera'].update(driver='opencv', device='/dev/video2')
    opencv = robot_node_set(CellConfig.from_dict(data, tmp_path))
    assert opencv[0].name == 'camera' and opencv[0].overrides['device'] == '/dev/video2'
    assert opencv[0].overrides['frame_id'] == 'camera_color_optical_frame'
    with pytest.raises(ValueError, match='robot_node_set'):
        node_set('robot')
    with pytest.raises(ValueError, match=r"\['sim'\] not in the robot node set"):
        robot_node_set(cfg, only=['sim'])


def test_sim_node_set_frames_match_the_sim():
    specs = {s.name: s for s in node_set('sim', {'sim': {'num_boxes': '6'}})}
    frames = specs['cell_frames'].overrides
    assert frames['num_boxes'] == '6' and frames['camera_frame'] == 'camera_optical_frame'
    # the sorter's arm is told the boxes: no parameter call to the sim at start-up, which
    # could time out on a loaded machine and stop the sorter (seen in the up/down loop)
    assert specs['sorter'].overrides['arm.num_boxes'] == '6'
    mine = {s.name: s for s in node_set('sim', {'sim': {'num_boxes': '6'},
                                                'sorter': {'arm.num_boxes': '5'}})}
    assert mine['sorter'].overrides['arm.num_boxes'] == '5'
    # the sim's gripper answers in simulated time: its wall-clock deadline is the sim's
    assert float(specs['sorter'].overrides['arm.gripper_timeout']) > 5.0
    told = {s.name: s for s in node_set('sim', {'sorter': {'arm.gripper_timeout': '7'}})}
    assert told['sorter'].overrides['arm.gripper_timeout'] == '7'


def test_up_robot_checks_its_configuration_before_starting(tmp_path, capsys):
    from sorting_cell.cli import main
    assert main(['up', 'robot']) == 2
    assert '--config CELL.yaml goes with `up robot`' in capsys.readouterr().err
    assert main(['up', 'sim', '--config', 'x.yaml']) == 2
    capsys.readouterr()
    data = _valid()
    data['arm']['controler'] = data['arm'].pop('controller')
    (tmp_path / 'cell.yaml').write_text(yaml.safe_dump(data))
    assert main(['up', 'robot', '--config', str(tmp_path / 'cell.yaml')]) == 2
    assert 'arm.controler: unknown key' in capsys.readouterr().err
    data = dict(_valid(), calibration='cal.yaml')
    data['arm']['manipulator'] = 'no_such_package.arm:make'
    (tmp_path / 'cell.yaml').write_text(yaml.safe_dump(data))
    Calibration(make_transform(translation=[0, 0, 0.6]), make_transform()).save(
        tmp_path / 'cal.yaml')
    assert main(['up', 'robot', '--config', str(tmp_path / 'cell.yaml')]) == 2
    assert "arm backend 'no_such_package.arm:make' is not installed" in capsys.readouterr().err


def test_sim_cell_config_is_the_simulated_cell():
    """config/robots/sim.yaml describes the sim node's cell: its boxes, joints, and a
    calibration that is the sim camera's true pose."""
    from sorting_cell.sim.cell import ARM_JOINTS, box_poses, build_cell
    cfg = CellConfig.load(ROBOTS / 'sim.yaml')
    assert cfg.arm.model == 'ur5e' and cfg.arm.joints == ARM_JOINTS and cfg.use_sim_time
    for box, (x, y, yaw) in zip(cfg.boxes, box_poses(4), strict=True):
        np.testing.assert_allclose([*box.position, box.yaw], [x, y, 0.0, yaw], atol=1e-5)
    _, _, info = build_cell(num_boxes=4, n_objects=0)
    calib = cfg.calibration()
    assert calib.camera_frame == cfg.frames.camera
    np.testing.assert_allclose(calib.T_base_table @ calib.T_table_camera,
                               info.camera.T_world_camera, atol=1e-6)


def test_up_robot_refuses_an_arm_without_a_planning_model(tmp_path, capsys):
    """The FR3 example: no FR3 model here (robosuite has a Panda, with other joint limits);
    `up robot` says so before starting anything. Perception only still starts."""
    from sorting_cell.cli import main
    data = yaml.safe_load((ROBOTS / 'franka_fr3.yaml').read_text())
    data['calibration'] = 'cal.yaml'
    Calibration(make_transform(translation=[0, 0, 0.6]), make_transform()).save(
        tmp_path / 'cal.yaml')
    (tmp_path / 'cell.yaml').write_text(yaml.safe_dump(data))
    assert main(['up', 'robot', '--config', str(tmp_path / 'cell.yaml')]) == 2
    err = capsys.readouterr().err
    assert "no planning model for arm 'fr3'" in err and 'Panda' in err, err
    data['arm'].pop('model')
    (tmp_path / 'cell.yaml').write_text(yaml.safe_dump(data))
    assert main(['up', 'robot', '--config', str(tmp_path / 'cell.yaml')]) == 2
    assert 'arm.model: missing' in capsys.readouterr().err
    data['arm']['manipulator'] = 'none'
    (tmp_path / 'cell.yaml').write_text(yaml.safe_dump(data))
    specs = robot_node_set(CellConfig.load(tmp_path / 'cell.yaml'))
    assert {s.name: s for s in specs}['sorter'].overrides['manipulator'] == 'none'
