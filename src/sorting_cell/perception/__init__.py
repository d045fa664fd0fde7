"""Perception, assembled in one place: describe a set of images, then assign boxes.

- :class:`Describer` turns images (a folder, one frame of the cell's camera, or detections
  from the ROS graph) into a :class:`Description`: the objects, what the extractor saw,
  per-view features, sizes and outlines, and the decisions made from evidence in the
  images (:mod:`~sorting_cell.perception.evidence`);
- :func:`assign` turns a description and a number of boxes (or ``'auto'``:
  :func:`~sorting_cell.perception.choose_k.choose_k`) into labels: the only place where
  features are normalised, geometry is weighed in and methods are looked up
  (:data:`METHODS`);
- :func:`~sorting_cell.perception.boxes.place` puts the objects of a new description into
  the :class:`~sorting_cell.perception.boxes.Boxes` of an earlier sort, or flags them as a
  new kind.

The CLI, the benchmarks, :class:`~sorting_cell.SortingPipeline` and the ROS nodes all go
through these two.
"""
from ..features import DEFAULT_FEATURES
from .assign import AUTO_SHAPE_WEIGHT, AUTO_SIZE_WEIGHT, assign, check_assign_params
from .boxes import Boxes, Placement, place
from .choose_k import KChoice, choose_k
from .describe import CROPS, Describer
from .description import Decision, Description, Item
from .methods import METHODS, Input, lookup, make_method

__all__ = ['Describer', 'Description', 'Decision', 'Item', 'assign', 'check_assign_params',
           'METHODS', 'Input', 'lookup', 'make_method', 'DEFAULT_FEATURES', 'CROPS',
           'AUTO_SIZE_WEIGHT', 'AUTO_SHAPE_WEIGHT', 'Boxes', 'Placement', 'place',
           'KChoice', 'choose_k']
