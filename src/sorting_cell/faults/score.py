"""Lost and duplicated objects of one fault case, from physics and the log, never from claims.

Inputs are the simulator's ground truth (``sim/ground_truth`` ``objects``: body -> family,
position, box; ``box`` -1 when the object lies in no box), sampled over the case, and the
rows of the sort log for the sorts the case created or continued.

- **lost**: an object that ends neither in a box nor resumable on the tray. An object is
  resumable on the tray when it still rests where it started (within ``tray_tolerance`` of
  its start height: not on the floor, not held in the gripper) and no sort claims it placed
  (a ``done`` row on an object still on the tray would never be picked again).
- **duplicated**: an object placed twice or into two boxes: it entered a box more than once
  over the sampled truth (or moved from one box to another), or two sorts logged it
  ``done``.

Logged objects are matched to bodies by their planned world position (nearest start
position within ``match_radius``).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

__all__ = ['Outcome', 'FaultScore', 'score_case']


class Outcome(str, enum.Enum):
    """What the client was told at the end of a fault case."""

    SUCCEEDED = 'succeeded'        # every object placed
    RESUMED = 'resumed'            # a later goal continued the interrupted sort to the end
    FAILED = 'failed'              # the goal ended with objects reported not placed
    ABORTED = 'aborted'            # the sorter ended the goal with a reason
    CANCELED = 'canceled'
    REFUSED = 'refused'            # refused before anything moved (client or sorter)
    SORTER_GONE = 'sorter_gone'    # the client raised SorterGone
    TIMEOUT = 'timeout'            # nothing reported within the case's bound
    FALSE_REPORT = 'false_report'  # the cell said something physics contradicts (box_full
                                   # with empty boxes...)
    SKIPPED = 'skipped'            # the case cannot run here (reason in detail)
    ERROR = 'error'                # the harness itself failed (reason in detail)


@dataclass
class FaultScore:
    lost: int
    duplicated: int
    placed: int
    on_tray: int
    lost_objects: list = field(default_factory=list)
    duplicated_objects: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {'lost': self.lost, 'duplicated': self.duplicated, 'placed': self.placed,
                'on_tray': self.on_tray, 'lost_objects': self.lost_objects,
                'duplicated_objects': self.duplicated_objects}


def _box_entries(body: str, history: list[dict]) -> int:
    entries, prev = 0, -1
    for objects in history:
        box = objects.get(body, {}).get('box', -1)
        if box >= 0 and box != prev:
            entries += 1
        prev = box
    return entries


def score_case(start: dict, history: list[dict], final: dict, logged: list[dict],
               tray_tolerance: float = 0.03, match_radius: float = 0.05) -> FaultScore:
    """Score one case.

    Parameters
    ----------
    start, final : dict
        Ground-truth ``objects`` at the start and the end of the case.
    history : list of dict
        Ground-truth ``objects`` sampled in between, oldest first (``final`` last).
    logged : list of dict
        ``{'sort_id', 'object_id', 'state', 'box', 'position'}`` per logged object (sorts
        that moved nothing, e.g. dry runs, left out by the caller).
    """
    names = list(start)
    xy = np.array([start[n]['position'][:2] for n in names]) if names else np.zeros((0, 2))
    done_by: dict[str, set] = {n: set() for n in names}
    for row in logged:
        pos = row.get('position')
        if row.get('state') != 'done' or pos is None or not names:
            continue
        d = np.linalg.norm(xy - np.asarray(pos[:2]), axis=1)
        if d.min() <= match_radius:
            done_by[names[int(d.argmin())]].add(row['sort_id'])
    lost, dup, placed, on_tray = [], [], 0, 0
    for n in names:
        end = final.get(n)
        if end is None:
            lost.append({'object': n, 'why': 'gone from the ground truth'})
            continue
        if end['box'] >= 0:
            placed += 1
        else:
            rests = abs(end['position'][2] - start[n]['position'][2]) <= tray_tolerance
            if rests and not done_by[n]:
                on_tray += 1
            elif rests:
                lost.append({'object': n, 'why': 'on the tray but logged placed by '
                             f'{sorted(done_by[n])}: never picked again'})
            else:
                lost.append({'object': n, 'why': 'in no box and off the tray (z '
                             f"{end['position'][2]:.3f}, started at "
                             f"{start[n]['position'][2]:.3f})"})
        entries = _box_entries(n, [start, *history, final])
        if entries > 1 or len(done_by[n]) > 1:
            dup.append({'object': n, 'box_entries': entries,
                        'logged_done_in': sorted(done_by[n])})
    return FaultScore(len(lost), len(dup), placed, on_tray, lost, dup)
