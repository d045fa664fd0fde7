"""Perception3D pairs an image with the depth of its own frame, across a camera clock reset.

A simulator reset (and a bag played again) restarts the camera's clock: the stamps of the
new scene come round to those of the old one. Seen in the fault matrix under load: a short
tray, a reset, and the next tray's image paired with the old tray's depth at the same stamp
(every object "less than 2 mm above the table").
"""
import numpy as np
from builtin_interfaces.msg import Time
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from sorting_cell.nodes.camera_geometry import Perception3D
from sorting_cell.nodes.conversions import numpy_to_image
from sorting_cell.nodes.qos import sensor_qos

SHAPE = (4, 6)


def _stamp(t: float) -> Time:
    return Time(sec=int(t), nanosec=int(round((t - int(t)) * 1e9)))


def _info() -> CameraInfo:
    info = CameraInfo(header=Header(frame_id='cam'), height=SHAPE[0], width=SHAPE[1])
    info.k = [5.0, 0.0, 3.0, 0.0, 5.0, 2.0, 0.0, 0.0, 1.0]
    return info


def test_after_the_clock_goes_back_an_image_gets_its_own_scenes_depth(ros):
    node = ros.add(Node('geometry_under_test', context=ros.context))
    geometry = Perception3D(node)
    depth_pub = ros.probe.create_publisher(Image, 'camera/depth', sensor_qos(depth=10))
    info_pub = ros.probe.create_publisher(CameraInfo, 'camera/camera_info', sensor_qos())
    ros.wait_for(lambda: depth_pub.get_subscription_count() and
                 info_pub.get_subscription_count(), what='subscriptions matched')
    info_pub.publish(_info())
    ros.wait_for(lambda: geometry.info is not None, what='camera_info')

    def send(scene: float, t: float):
        depth = np.full(SHAPE, scene, np.float32)
        depth_pub.publish(numpy_to_image(depth, header=Header(stamp=_stamp(t),
                                                              frame_id='cam')))
        ros.wait_for(lambda: geometry.depth is not None and geometry.depth[0, 0] == scene
                     and abs(geometry._recent[-1][0] - t) < 1e-6, what=f'depth {scene} at {t}')

    for t in (0.2, 0.4, 0.6, 0.8, 1.0):     # the old scene: a short tray
        send(1.0, t)
    for t in (0.2, 0.4):                     # reset: the clock starts again, a new scene
        send(2.0, t)
    depth, cam = geometry.snapshot(SHAPE, image_stamp=0.4)
    assert cam is not None and depth is not None
    assert depth[0, 0] == 2.0                # not the old scene's depth at the same stamp
    # the old scene's later stamps are gone too: no depth for a frame not received yet
    assert geometry.snapshot(SHAPE, image_stamp=0.8)[0] is None
    # a late frame of the new scene (slightly out of order) keeps what was received
    send(2.5, 0.3)
    assert geometry.snapshot(SHAPE, image_stamp=0.4)[0][0, 0] == 2.0
    assert geometry.snapshot(SHAPE, image_stamp=0.3)[0][0, 0] == 2.5
