"""Pick an object and place it in a box: the boundary a real arm or the simulator fills."""
from .base import Manipulator, PickOutcome, PickRequest

__all__ = ['Manipulator', 'PickOutcome', 'PickRequest']
