"""Pick an object and place it in a box: the boundary a real arm or the simulator fills.

Only the contract (:mod:`.base`) is imported eagerly; the planning stack (MuJoCo, mink,
OMPL) loads on first use, so perception-only users do not pay for it.
"""
from importlib import import_module

from .base import Manipulator, PickOutcome, PickRequest

_LAZY = {'ArmBackend': 'executor', 'PickConfig': 'executor', 'PickPlaceManipulator': 'executor',
         'Snapshot': 'executor', 'GraspError': 'grasp', 'GraspPose': 'grasp',
         'plan_grasp': 'grasp', 'ArmSpec': 'robot', 'BoxSpec': 'robot'}

__all__ = ['Manipulator', 'PickOutcome', 'PickRequest', *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f'.{_LAZY[name]}', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
