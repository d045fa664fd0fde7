"""What the operator's page shows, as one thread-safe, versioned model.

ROS callbacks write into a :class:`CellView` from executor threads; the web server reads
:meth:`CellView.snapshot` and :meth:`CellView.frame` from its event loop and sends only when
:attr:`CellView.version` / :attr:`CellView.frame_seq` moved, so a page costs nothing while
nothing changes.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from enum import Enum

__all__ = ['Phase', 'ObjectState', 'BoxView', 'CellView', 'box_colour', 'PALETTE']


class Phase(str, Enum):
    """Phase of the current sort (the SortObjects feedback's words, and idle)."""

    IDLE = 'idle'
    SNAPSHOT = 'snapshot'
    DETECT = 'detect'
    CLUSTER = 'cluster'
    PICK = 'pick'
    DONE = 'done'

    @classmethod
    def parse(cls, word: str) -> 'Phase':
        try:
            return cls(word)
        except ValueError:
            raise ValueError(f'unknown sort phase {word!r}; one of '
                             f'{", ".join(p.value for p in cls)}') from None


class ObjectState(str, Enum):
    """An object of a sort, as its sort log records it."""

    PENDING = 'pending'
    STARTED = 'started'
    DONE = 'done'
    FAILED = 'failed'


# Distinct on a grey table and for the common colour blindnesses (Okabe-Ito), RGB.
PALETTE = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178),
           (213, 94, 0), (204, 121, 167), (120, 120, 120)]


def box_colour(box: int) -> tuple[int, int, int]:
    """The RGB colour of box ``box`` (unassigned objects, box < 0: white)."""
    return (255, 255, 255) if box < 0 else PALETTE[box % len(PALETTE)]


@dataclass
class BoxView:
    """One box on the page: its objects of the current sort and how full it is."""

    box: int
    colour: str
    assigned: list[str] = field(default_factory=list)
    placed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class CellView:
    """The page's model. Every write bumps :attr:`version` (a new camera frame bumps
    :attr:`frame_seq` instead, so the image stream does not resend the rest)."""

    def __init__(self, on_note=None):
        self._lock = threading.Lock()
        self._on_note = on_note   # (text, error): the node logs what the page is told
        self.version = 0
        self.frame_seq = 0
        self._frame: bytes = b''
        self._frame_meta: dict = {}
        self._sort: dict = {}
        self._feedback: dict = {'phase': Phase.IDLE.value}
        self._health: dict[str, dict] = {}
        self._processes: dict = {}
        self._reports: list[dict] = []
        self._messages: list[dict] = []
        self._sorter: dict = {'alive': None, 'since': None}
        self.clients = 0

    def _bump(self) -> None:
        self.version += 1

    # -- writes (ROS side) -------------------------------------------------------------
    def set_frame(self, jpeg: bytes, width: int, height: int, outlined: int) -> None:
        with self._lock:
            self._frame = jpeg
            self._frame_meta = {'width': width, 'height': height, 'outlined': outlined,
                                't': time.time()}
            self.frame_seq += 1

    def set_feedback(self, sort_id: str, phase: str, done: int, total: int,
                     current_object: str, current_box: int) -> None:
        fb = {'sort_id': sort_id, 'phase': Phase.parse(phase).value, 'done': int(done),
              'total': int(total), 'current_object': current_object,
              'current_box': int(current_box)}
        with self._lock:
            if fb != self._feedback:
                self._feedback = fb
                self._bump()

    def set_sort(self, sort: dict) -> None:
        """The sort as its log has it: sort_id, num_boxes, state, message, objects (each
        object_id, box, state, reason, attempts)."""
        for obj in sort.get('objects', []):
            ObjectState(obj['state'])   # an unknown state is a bug of the reader: fail loudly
        with self._lock:
            if sort != self._sort:
                self._sort = sort
                if sort.get('state') not in (None, 'running') \
                        and self._feedback.get('sort_id') == sort.get('sort_id'):
                    self._feedback = dict(self._feedback, phase=Phase.DONE.value)
                self._bump()

    def set_health(self, name: str, level: str, message: str, error: bool) -> None:
        """One node part's state from /diagnostics; an error is kept as its last error."""
        with self._lock:
            entry = self._health.setdefault(name, {'last_error': '', 'last_error_t': None})
            new = dict(entry, level=level, message=message)
            if error:
                new.update(last_error=message, last_error_t=time.time())
            if new != entry:
                self._health[name] = new
                self._bump()

    def set_processes(self, processes: dict) -> None:
        """Per node: alive (process or graph), returncode, uptime (from the supervisor)."""
        with self._lock:
            if processes != self._processes:
                self._processes = processes
                self._bump()

    def set_sorter_alive(self, alive: bool) -> None:
        with self._lock:
            if alive != self._sorter['alive']:
                self._sorter = {'alive': alive, 'since': time.time()}
                self._bump()

    def set_reports(self, reports: list[dict]) -> None:
        with self._lock:
            if reports != self._reports:
                self._reports = list(reports)
                self._bump()

    def note(self, text: str, error: bool = False) -> None:
        """A line for the page's message area (command results, refusals)."""
        with self._lock:
            self._messages = (self._messages + [{'t': time.time(), 'text': text,
                                                 'error': error}])[-20:]
            self._bump()
        if self._on_note is not None:
            self._on_note(text, error)

    # -- reads (web side) --------------------------------------------------------------
    def frame(self) -> tuple[int, bytes]:
        with self._lock:
            return self.frame_seq, self._frame

    def boxes(self) -> list[BoxView]:
        with self._lock:
            sort = self._sort
        n = int(sort.get('num_boxes', 0))
        views = [BoxView(b, '#%02x%02x%02x' % box_colour(b)) for b in range(n)]
        for obj in sort.get('objects', []):
            if 0 <= obj['box'] < n:
                view = views[obj['box']]
                view.assigned.append(obj['object_id'])
                if obj['state'] == ObjectState.DONE.value:
                    view.placed.append(obj['object_id'])
                elif obj['state'] == ObjectState.FAILED.value:
                    view.failed.append(obj['object_id'])
        return views

    def snapshot(self) -> dict:
        """Everything but the image, JSON-ready."""
        boxes = [asdict(b) for b in self.boxes()]
        with self._lock:
            return {'version': self.version, 'frame': dict(self._frame_meta),
                    'feedback': dict(self._feedback), 'sort': self._sort, 'boxes': boxes,
                    'health': {k: dict(v) for k, v in self._health.items()},
                    'processes': dict(self._processes), 'sorter': dict(self._sorter),
                    'reports': list(self._reports), 'messages': list(self._messages)}
