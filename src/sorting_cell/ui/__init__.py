"""The operator's live web page of the cell (ROS-free part).

:mod:`.state` holds what the page shows (thread-safe, versioned), :mod:`.access` decides who
may use it (localhost, or a token) and which files it may serve, :mod:`.app` is the Starlette
application (page, WebSocket, commands), :mod:`.sort_report` draws outlines, thumbnails and a
sort's offline ``report.html``. The rclpy side is :mod:`sorting_cell.nodes.ui`.
"""
from .access import AccessError, UnsafePath, check_token, is_loopback, resolve_token, safe_path
from .state import BoxView, CellView, ObjectState, Phase, box_colour

__all__ = ['AccessError', 'UnsafePath', 'check_token', 'is_loopback', 'resolve_token',
           'safe_path', 'BoxView', 'CellView', 'ObjectState', 'Phase', 'box_colour']
