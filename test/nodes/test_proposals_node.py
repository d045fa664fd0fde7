"""proposals node in-process: image -> detections; bad frames -> diagnostics, node lives."""
import array

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image

from scenes import make_scene
from sorting_cell.nodes.conversions import numpy_to_image
from sorting_cell.nodes.proposals import ProposalsNode
from sorting_cell.nodes.qos import latched_qos, result_qos, sensor_qos
from sorting_cell_interfaces.msg import Detections
from sorting_cell_interfaces.srv import DetectObjects


def _collect(ros, msg_type, topic, qos):
    got = []
    ros.probe.create_subscription(msg_type, topic, got.append, qos)
    return got


def test_image_to_detections_with_background_and_depth(ros):
    scene = make_scene(n_objects=9, n_kinds=3, seed=3)
    node = ros.add(ProposalsNode(context=ros.context, parameter_overrides=[
        Parameter('camera_timeout', value=30.0)]))
    dets = _collect(ros, Detections, 'detections', result_qos())
    img_pub = ros.probe.create_publisher(Image, 'camera/image_raw', sensor_qos())
    bg_pub = ros.probe.create_publisher(Image, 'camera/background', latched_qos())
    depth_pub = ros.probe.create_publisher(Image, 'camera/depth', sensor_qos())
    info_pub = ros.probe.create_publisher(CameraInfo, 'camera/camera_info', sensor_qos())
    bg_pub.publish(numpy_to_image(scene.background))
    ros.wait_for(lambda: node.has_background, 10, 'background fitted')
    K = [500.0, 0, 319.5, 0, 500.0, 239.5, 0, 0, 1]
    depth_pub.publish(numpy_to_image(np.full((480, 640), 1.2, np.float32)))
    info_pub.publish(CameraInfo(width=640, height=480, k=K))
    ros.wait_for(lambda: node.geometry.depth is not None and node.geometry.info is not None,
                 10, 'depth + camera info')
    msg = numpy_to_image(scene.frame)
    msg.header.frame_id = 'camera_optical'
    msg.header.stamp.sec = 42
    ros.wait_for(lambda: img_pub.get_subscription_count() > 0, 10, 'proposals subscribed')
    img_pub.publish(msg)
    ros.wait_for(lambda: dets, 20, 'detections')
    out = dets[0]
    assert out.header.stamp.sec == 42 and out.header.frame_id == 'camera_optical'
    assert len(out.detections) == 9
    gt = scene.match([(d.centroid_x, d.centroid_y) for d in out.detections])
    assert (gt >= 0).all()                       # every detection is on a real object
    assert len(set(map(tuple, np.array(scene.boxes)[[
        next(i for i, b in enumerate(scene.boxes)
             if b[0] <= d.centroid_x < b[2] and b[1] <= d.centroid_y < b[3])
        for d in out.detections]]))) == 9      # ...and each object found once
    d = out.detections[0]
    assert d.crop.encoding == 'rgb8' and d.mask.encoding == 'mono8'
    assert d.has_position and d.position.point.z == np.float32(1.2)
    assert d.position.header.frame_id == 'camera_optical'
    assert all(a.score >= b.score for a, b in zip(out.detections, out.detections[1:]))


def test_bad_frames_reported_and_node_keeps_working(ros):
    scene = make_scene(n_objects=4, n_kinds=2, seed=4)
    ros.add(ProposalsNode(context=ros.context))
    dets = _collect(ros, Detections, 'detections', result_qos())
    diags = _collect(ros, DiagnosticArray, '/diagnostics', 10)
    pub = ros.probe.create_publisher(Image, 'camera/image_raw', sensor_qos())
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10, 'subscription')

    bad = [Image(height=480, width=640, encoding='yuv422', step=1280,
                 data=array.array('B', bytes(480 * 1280))),
           Image(height=0, width=0, encoding='rgb8'),
           Image(height=480, width=640, encoding='rgb8', step=1920,
                 data=array.array('B', bytes(100)))]
    for m in bad:
        pub.publish(m)
    errors = ros.wait_for(lambda: [s for a in diags for s in a.status
                                   if s.level == DiagnosticStatus.ERROR] if len(
        [s for a in diags for s in a.status if s.level == DiagnosticStatus.ERROR]) >= 3
        else None, 15, 'three error diagnostics')
    text = ' | '.join(s.message for s in errors)
    assert "unsupported image encoding 'yuv422'" in text
    assert 'empty image' in text and 'needs' in text
    assert not dets
    pub.publish(numpy_to_image(scene.frame))             # still alive and working
    ros.wait_for(lambda: dets, 20, 'detections after bad frames')
    assert len(dets[0].detections) == 4


def test_detect_service_and_dead_camera_watchdog(ros):
    scene = make_scene(n_objects=5, n_kinds=2, seed=5)
    ros.add(ProposalsNode(context=ros.context, parameter_overrides=[
        Parameter('camera_timeout', value=0.5)]))
    diags = _collect(ros, DiagnosticArray, '/diagnostics', 10)
    cli = ros.probe.create_client(DetectObjects, 'proposals/detect')
    assert cli.wait_for_service(timeout_sec=10.0)
    ok = ros.wait_future(cli.call_async(DetectObjects.Request(
        image=numpy_to_image(scene.frame))))
    assert ok.success and len(ok.detections.detections) == 5
    bad = ros.wait_future(cli.call_async(DetectObjects.Request(
        image=numpy_to_image(np.ones((4, 4), np.float32)))))
    assert not bad.success and 'expected a colour' in bad.message
    silent = ros.wait_for(lambda: [s for a in diags for s in a.status
                                   if 'camera dead' in s.message], 10, 'camera watchdog')
    assert silent[0].level == DiagnosticStatus.ERROR   # never received a frame at all
