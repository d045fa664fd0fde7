"""Perception, assembled in one place: describe a set of images, then assign boxes.

- :class:`Describer` turns images (a folder, one frame of the cell's camera, or detections
  from the ROS graph) into a :class:`Description`: the objects, what the extractor saw,
  per-view features, sizes and outlines, and the decisions made from evidence in the
  images (:mod:`~sorting_cell.perception.evidence`);
- :func:`assign` turns a description and a number of boxes into labels: the only place
  where features are normalised, geometry is weighed in and methods are looked up
  (:data:`METHODS`).

The CLI, the benchmarks, :class:`~sorting_cell.SortingPipeline` and the ROS nodes all go
through these two.
"""
from ..features import DEFAULT_FEATURES
from .assign import AUTO_SHAPE_WEIGHT, AUTO_SIZE_WEIGHT, assign, check_assign_params
from .describe import CROPS, Describer
from .description import Decision, Description, Item
from .methods import METHODS, Input, lookup, make_method

__all__ = ['Describer', 'Description', 'Decision', 'Item', 'assign', 'check_assign_params',
           'METHODS', 'Input', 'lookup', 'make_method', 'DEFAULT_FEATURES', 'CROPS',
           'AUTO_SIZE_WEIGHT', 'AUTO_SHAPE_WEIGHT']
