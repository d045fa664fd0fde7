"""Whether the nodes a sort depends on are alive, and how a goal ends when one is not.

The ROS side (heartbeats, the watch) is :mod:`sorting_cell.nodes.liveness`; this module
holds its ROS-free vocabulary so outcomes can be matched as enums, not by string.
"""
from __future__ import annotations

import enum

__all__ = ['NodeState', 'NodeFault']


class NodeState(enum.Enum):
    """What a node's heartbeat says about it."""

    #: Never heard (not started yet, or not running at all).
    UNKNOWN = 'unknown'
    #: Its heartbeat is asserted within the lease.
    ALIVE = 'alive'
    #: Its heartbeat lapsed: the process died (killed, crashed) or hung (stopped, deadlock).
    DEAD = 'dead'


class NodeFault(enum.Enum):
    """Why a goal was refused or ended because of another node: the first word of the
    goal's result message (``'word: detail'``)."""

    #: A node the sort depends on stopped its heartbeat (died or hung).
    NODE_GONE = 'node_gone'
    #: A node the sort depends on was never heard from (not running).
    NODE_ABSENT = 'node_absent'

    def reason(self, detail: str) -> str:
        """``'word: detail'``."""
        return f'{self.value}: {detail}'

    @classmethod
    def of(cls, message: str) -> 'NodeFault | None':
        """The fault a result message starts with, or None."""
        word = message.split(':', 1)[0].strip()
        return next((f for f in cls if f.value == word), None)
