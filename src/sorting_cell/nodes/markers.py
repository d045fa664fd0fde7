"""visualization_msgs/MarkerArray of the cell's detections and boxes (RViz, Foxglove)."""
from __future__ import annotations

import numpy as np
from visualization_msgs.msg import Marker, MarkerArray

__all__ = ['detection_markers', 'box_markers']

_BOX_RGB = ((0.85, 0.25, 0.2), (0.2, 0.45, 0.85), (0.95, 0.75, 0.15), (0.3, 0.7, 0.35),
            (0.6, 0.35, 0.75), (0.95, 0.5, 0.1), (0.2, 0.7, 0.75), (0.55, 0.55, 0.55))


def _clear(frame: str) -> Marker:
    """DELETEALL first: markers of the previous message must not linger."""
    m = Marker(action=Marker.DELETEALL)
    m.header.frame_id = frame
    return m


def detection_markers(detections, diameter: float = 0.03) -> MarkerArray:
    """A sphere and an index label at each detection's 3-D position (those that have one).

    ``detections`` is a sorting_cell_interfaces/Detections message.
    """
    out = MarkerArray()
    placed = [d for d in detections.detections if d.has_position]
    frame = placed[0].position.header.frame_id if placed else detections.header.frame_id
    out.markers.append(_clear(frame))
    for i, d in enumerate(placed):
        for kind, ns in ((Marker.SPHERE, 'detections'),
                         (Marker.TEXT_VIEW_FACING, 'detection_labels')):
            m = Marker(type=kind, action=Marker.ADD, ns=ns, id=i)
            m.header.frame_id = d.position.header.frame_id
            m.header.stamp = detections.header.stamp
            p = m.pose.position
            p.x, p.y, p.z = d.position.point.x, d.position.point.y, d.position.point.z
            m.pose.orientation.w = 1.0
            m.color.r, m.color.g, m.color.b, m.color.a = 0.1, 0.8, 0.9, 0.9
            if kind == Marker.SPHERE:
                m.scale.x = m.scale.y = m.scale.z = diameter
            else:
                p.z += diameter
                m.scale.z, m.text = diameter * 0.8, str(i)
                m.color.r = m.color.g = m.color.b = 1.0
            out.markers.append(m)
    return out


def box_markers(frame: str, boxes, stamp) -> MarkerArray:
    """A semi-transparent cube and a 'box i' label per box; ``boxes`` = [(T_frame_box,
    (inner x, inner y, wall height))], the box frame at the centre of its floor."""
    out = MarkerArray()
    out.markers.append(_clear(frame))
    for i, (T, size) in enumerate(boxes):
        T = np.asarray(T, float)
        yaw = float(np.arctan2(T[1, 0], T[0, 0]))
        for kind, ns in ((Marker.CUBE, 'boxes'), (Marker.TEXT_VIEW_FACING, 'box_labels')):
            m = Marker(type=kind, action=Marker.ADD, ns=ns, id=i)
            m.header.frame_id, m.header.stamp = frame, stamp
            p = m.pose.position
            p.x, p.y = float(T[0, 3]), float(T[1, 3])
            p.z = float(T[2, 3] + size[2] / 2)
            m.pose.orientation.z, m.pose.orientation.w = np.sin(yaw / 2), np.cos(yaw / 2)
            r, g, b = _BOX_RGB[i % len(_BOX_RGB)]
            m.color.r, m.color.g, m.color.b = r, g, b
            if kind == Marker.CUBE:
                m.scale.x, m.scale.y, m.scale.z = (float(v) for v in size)
                m.color.a = 0.5
            else:
                p.z += size[2] / 2 + 0.05
                m.scale.z, m.color.a, m.text = 0.04, 1.0, f'box {i}'
            out.markers.append(m)
    return out
