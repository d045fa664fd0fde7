"""The sorting cell from a script: ``SortingCell().sort(num_boxes=4)``.

Hides the SortObjects action (goal, feedback, result, cancel)::

    from sorting_cell.client import SortingCell
    with SortingCell() as cell:
        outcome = cell.sort(num_boxes=4, on_feedback=print)
        for obj in outcome.objects:
            print(obj.object_id, '->', obj.box, obj.reason)

ROS 2 (rclpy) is needed to *use* the client; importing this module does not load it, so
the core stays importable without ROS. The implementation is in
:mod:`sorting_cell.nodes.cell_client`.
"""
from __future__ import annotations

__all__ = ['SortingCell', 'SortOutcome', 'ObjectResult', 'SortTask', 'SortRejected',  # noqa: F822
           'SorterGone', 'Match']


def __getattr__(name: str):
    if name in __all__:
        from .nodes import cell_client
        return getattr(cell_client, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
