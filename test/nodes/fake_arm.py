"""Stands in for arm HARDWARE in tests (the one true hardware edge of the sorter).

A physical arm takes a while per pick and its effect (the object is in the box) outlives
any crash of the sorter. :class:`FakeArm` imitates both: each pick takes ``pick_seconds``,
can be stopped, and a completed placement is appended (with fsync) to a journal file that
plays the part of the physical world. Used with
``manipulator: 'fake_arm:make_manipulator'`` and ``test/nodes`` on ``PYTHONPATH``.
"""
from __future__ import annotations

import json
import os
import threading
import time

from sorting_cell.manipulation import Manipulator, PickOutcome, PickRequest


class FakeArm(Manipulator):
    #: Pile height of one object in a box, m (one lane per box).
    OBJECT_HEIGHT = 0.02

    def __init__(self, journal: str, pick_seconds: float = 0.4, fail_ids=(), num_boxes=16,
                 box_capacity=100, fail_reason: str = 'unreachable: outside the fake workspace'):
        self.journal = journal
        self.box_capacity = box_capacity   # objects a box takes
        self.counts = [0] * num_boxes
        self.fail_reason = fail_reason   # e.g. 'no_robot: ...' for an arm that went down
        self.num_boxes = num_boxes   # the physical cell's boxes
        self.pick_seconds = pick_seconds
        self.fail_ids = set(fail_ids)
        self._stop = threading.Event()
        self.requests: list[PickRequest] = []
        self.homes = 0
        self.emptied = 0

    def pick_and_place(self, request: PickRequest) -> PickOutcome:
        self._stop.clear()
        self.requests.append(request)
        if request.object_id in self.fail_ids:
            return PickOutcome(False, self.fail_reason)
        if request.mask is None or not request.mask.any():
            return PickOutcome(False, 'no_object: empty mask')
        if self.counts[request.box_index] >= self.box_capacity:
            return PickOutcome(False, f'box_full: box {request.box_index} holds '
                               f'{self.counts[request.box_index]}', attempts=0)
        if self._stop.wait(self.pick_seconds):
            return PickOutcome(False, 'stopped: cancel during motion')
        self.counts[request.box_index] += 1
        with open(self.journal, 'a') as fh:
            fh.write(json.dumps({'sort_id': request.extra.get('sort_id'),
                                 'object_id': request.object_id,
                                 'box': request.box_index, 't': time.time()}) + '\n')
            fh.flush()
            os.fsync(fh.fileno())
        return PickOutcome(True, 'placed')

    def home(self) -> None:
        self.homes += 1

    def reset_boxes(self) -> None:
        self.emptied += 1
        self.counts = [0] * self.num_boxes

    def box_fill(self) -> dict[int, list[tuple[float, int]]]:
        return {b: [(c * self.OBJECT_HEIGHT, c)] for b, c in enumerate(self.counts)}

    def set_box_fill(self, box_index: int, heights, counts=None) -> None:
        self.counts[box_index] = int(sum(counts or [0]))

    def stop(self) -> None:
        self._stop.set()


def read_journal(path) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def make_manipulator(node) -> FakeArm:
    """``factory(node)`` for the sorter's ``manipulator`` parameter."""
    journal = node.declare_parameter('fake_arm.journal', '').value
    seconds = node.declare_parameter('fake_arm.pick_seconds', 0.4).value
    fail = node.declare_parameter('fake_arm.fail_ids', ['']).value
    boxes = node.declare_parameter('fake_arm.num_boxes', 16).value
    capacity = node.declare_parameter('fake_arm.box_capacity', 100).value
    reason = node.declare_parameter('fake_arm.fail_reason',
                                    'unreachable: outside the fake workspace').value
    if not journal:
        raise ValueError('fake_arm.journal parameter is required')
    return FakeArm(journal, seconds, [f for f in fail if f], boxes, capacity, reason)
