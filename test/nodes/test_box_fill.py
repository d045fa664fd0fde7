"""Box fill: durable in the sort log, published latched, restored on restart, reset over ROS."""
from action_msgs.msg import GoalStatus
from std_msgs.msg import Empty, Float32MultiArray

from scenes import make_scene
from sorting_cell.nodes.qos import latched_qos
from sorting_cell.sortlog import SortLog
from test_sorter_node import Cell

CAPACITY = {'fake_arm.box_capacity': 3}


def _counts(msg):
    """Objects per box from a boxes/fill message."""
    boxes, lanes, fields = (d.size for d in msg.layout.dim)
    assert [d.label for d in msg.layout.dim] == ['box', 'lane', 'objects_height_m']
    return [round(sum(msg.data[(b * lanes + k) * fields] for k in range(lanes)))
            for b in range(boxes)]


def _stop(ros, node):
    ros.executor.remove_node(node)
    ros.nodes.remove(node)
    node.destroy_node()


def test_fill_survives_a_restart_and_is_reset_over_ros(ros, tmp_path):
    scene = make_scene(n_objects=6, n_kinds=2, seed=12)
    fills = []
    ros.probe.create_subscription(Float32MultiArray, 'boxes/fill', fills.append, latched_qos())
    cell = Cell(ros, tmp_path, scene, **CAPACITY)
    status, result, _ = cell.run(num_boxes=2, sort_id='tray-1')
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.message
    per_box = [sum(o.box == b for o in result.objects) for b in range(2)]
    assert per_box == [3, 3]
    logged = SortLog(cell.log_dir).box_fill()
    assert [sum(c for _, c in logged[b]) for b in range(2)] == per_box
    ros.wait_for(lambda: fills and _counts(fills[-1])[:2] == per_box, 10, 'boxes/fill')

    # A restarted sorter knows the boxes are full: nothing is dropped onto the piles.
    _stop(ros, cell.node)
    fills.clear()
    cell = Cell(ros, tmp_path, scene, **CAPACITY)
    assert cell.node.manipulator.counts[:2] == per_box
    ros.wait_for(lambda: fills and _counts(fills[-1])[:2] == per_box, 10,
                 'restored fill, latched')
    status, result, _ = cell.run(num_boxes=2, sort_id='tray-2')
    assert not result.success
    assert all(o.reason.startswith('box_full') for o in result.objects), \
        [o.reason for o in result.objects]

    # Emptied over ROS: the log, the arm and the topic say so; the next sort fits.
    pub = ros.probe.create_publisher(Empty, 'boxes/emptied', 10)
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, 'sorter subscribed')
    pub.publish(Empty())
    ros.wait_for(lambda: SortLog(cell.log_dir).box_fill() == {}, 10, 'log emptied')
    ros.wait_for(lambda: fills and _counts(fills[-1])[:2] == [0, 0], 10, 'topic emptied')
    status, result, _ = cell.run(num_boxes=2, sort_id='tray-3')
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.message


def test_fill_is_checked_against_what_the_camera_sees_in_the_boxes(ros, tmp_path):
    """A box the log counts full but the camera sees empty is reset, not refused as full;
    one the log counts empty but the camera sees holding something is reported."""
    import mujoco

    from sorting_cell.manipulation.robot import arm_spec_from_cell
    from sorting_cell.sim.camera import CameraRenderer
    from sorting_cell.sim.cell import BoxPlacement, build_cell
    # a cell whose box 1 stands in the camera's view, rendered by MuJoCo
    model, data, info = build_cell(boxes=[BoxPlacement((0.0, 0.5, 0.0)),
                                          BoxPlacement((0.55, 0.17, 0.0))], seed=3, n_objects=1)
    cam = info.camera.as_dict()
    cell = Cell(ros, tmp_path, **CAPACITY)
    arm = cell.node.manipulator
    arm.spec = arm_spec_from_cell(info)            # the stand-in arm's cell: these boxes
    fills = []
    ros.probe.create_subscription(Float32MultiArray, 'boxes/fill', fills.append, latched_qos())
    arm.counts[:2] = [2, 3]
    cell.node.sort_log.set_box_fill(arm.box_fill(), 'test: the boxes as logged')
    with CameraRenderer(model, info.camera) as renderer:
        mujoco.mj_forward(model, data)
        empty = renderer.render(data).depth
        checks = cell.node._check_boxes(empty, cam)
        assert checks == {'0': 'not_seen', '1': 'camera_sees_empty'}
        assert arm.counts[:2] == [2, 0]                 # box 0 unseen: kept as logged
        assert sorted(SortLog(cell.log_dir).box_fill()) == [0] + list(range(2, 16))
        ros.wait_for(lambda: fills and _counts(fills[-1])[:2] == [2, 0], 10, 'topic')
        # An object lies in box 1 that the log does not count: reported, fill untouched.
        box = arm.spec.boxes[1]
        adr = model.jnt_qposadr[model.body(info.object_bodies[0]).jntadr[0]]
        data.qpos[adr:adr + 3] = [box.center[0], box.center[1], box.floor_z + 0.03]
        for _ in range(400):
            mujoco.mj_step(model, data)
        checks = cell.node._check_boxes(renderer.render(data).depth, cam)
    assert checks['1'] == 'camera_sees_objects' and arm.counts[:2] == [2, 0]
