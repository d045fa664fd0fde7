"""clustering node in-process: detections -> assignments; ready latched; bad input lives."""
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from sklearn.metrics import normalized_mutual_info_score
from std_msgs.msg import Bool, Header

from scenes import _draw, make_scene
from sorting_cell.features import DEFAULT_FEATURES
from sorting_cell.perception import Describer
from sorting_cell.nodes.clustering import ClusteringNode
from sorting_cell.nodes.conversions import regions_to_detections
from sorting_cell.nodes.qos import latched_qos, result_qos
from sorting_cell.regions import make_proposer
from sorting_cell_interfaces.msg import ClusterAssignments, Detections
from sorting_cell_interfaces.srv import ClusterDetections


def _detections(scene, sec=1):
    regions = make_proposer('background').fit([scene.background]).propose(scene.frame)
    for r in regions:  # the view the proposals node sends (the offline pipeline's crop)
        r.crop = Describer().view(scene.frame, r)
    header = Header(frame_id='camera')
    header.stamp.sec = sec
    return regions_to_detections(regions, header, scene.frame.shape), regions


def _node(ros, **params):
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    return ros.add(ClusteringNode(context=ros.context, parameter_overrides=overrides))


def test_scene_assignments_match_object_kinds(ros):
    scene = make_scene(n_objects=12, n_kinds=3, seed=7)
    ready, out = [], []
    _node(ros, num_boxes=3)
    ros.probe.create_subscription(Bool, 'clustering/ready', lambda m: ready.append(m.data),
                                  latched_qos())
    ros.probe.create_subscription(ClusterAssignments, 'assignments', out.append, result_qos())
    ros.wait_for(lambda: ready and ready[-1], 60, 'clustering/ready == True (latched)')
    pub = ros.probe.create_publisher(Detections, 'detections', result_qos())
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, 'subscription')
    msg, regions = _detections(scene)
    pub.publish(msg)
    ros.wait_for(lambda: out, 30, 'assignments')
    a = out[0]
    assert a.num_boxes == 3 and a.header.stamp.sec == 1 and a.features == DEFAULT_FEATURES
    assert list(a.object_ids) == [d.id for d in msg.detections]
    assert set(a.boxes) == {0, 1, 2}
    truth = scene.match([r.centroid for r in regions])
    assert normalized_mutual_info_score(truth, list(a.boxes)) >= 0.9


def test_too_few_objects_and_bad_detections_keep_node_alive(ros):
    scene = make_scene(n_objects=4, n_kinds=2, seed=8)
    out, diags = [], []
    _node(ros, num_boxes=6)
    ros.probe.create_subscription(ClusterAssignments, 'assignments', out.append, result_qos())
    ros.probe.create_subscription(DiagnosticArray, '/diagnostics', diags.append, 10)
    pub = ros.probe.create_publisher(Detections, 'detections', result_qos())
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, 'subscription')
    msg, _ = _detections(scene)
    pub.publish(msg)
    warn = ros.wait_for(lambda: [s for d in diags for s in d.status
                                 if s.level == DiagnosticStatus.WARN], 30, 'warning')
    assert '4 usable object(s) but 6 boxes' in warn[0].message
    broken, _ = _detections(scene, sec=2)
    broken.detections[1].crop = Image()
    pub.publish(broken)
    err = ros.wait_for(lambda: [s for d in diags for s in d.status
                                if s.level == DiagnosticStatus.ERROR], 30, 'error')
    assert 'carries no crop' in err[0].message
    assert not out
    # The stateless service still answers, with a specific message when impossible.
    cli = ros.probe.create_client(ClusterDetections, 'clustering/cluster')
    assert cli.wait_for_service(timeout_sec=10)
    res = ros.wait_future(cli.call_async(ClusterDetections.Request(detections=msg,
                                                                   num_boxes=2)))
    assert res.success and len(set(res.assignments.boxes)) == 2
    res = ros.wait_future(cli.call_async(ClusterDetections.Request(detections=msg,
                                                                   num_boxes=9)))
    assert not res.success and 'need at least as many objects as boxes' in res.message


def test_window_accumulates_one_object_per_frame(ros):
    """A stream of one-object frames (like a folder or bag of photos) is clustered as a set."""
    out = []
    _node(ros, num_boxes=2, window=6, main_only=True)
    ros.probe.create_subscription(ClusterAssignments, 'assignments', out.append, result_qos())
    pub = ros.probe.create_publisher(Detections, 'detections', result_qos())
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, 'subscription')
    truth = []
    for i in range(8):
        scene = make_scene(n_objects=1, n_kinds=1, seed=20 + i) if i % 2 == 0 else None
        if scene is None:   # a blue square scene: second kind
            scene = make_scene(n_objects=2, n_kinds=2, seed=20 + i)
            scene.frame[:] = scene.background
            _draw(scene.frame, 'blue_square', 320, 240, 40, 10.0 * i)
        msg, _ = _detections(scene, sec=100 + i)
        msg.detections = msg.detections[:1]
        truth.append(i % 2)
        pub.publish(msg)
    ros.wait_for(lambda: out and out[-1].stamps[-1].sec == 107, 60, 'the last frame clustered')
    last = out[-1]
    assert [s.sec for s in last.stamps] == list(range(102, 108))   # oldest two dropped
    assert normalized_mutual_info_score(truth[2:], list(last.boxes)) == 1.0
    assert np.all(np.diff([len(m.object_ids) for m in out]) >= 0)
