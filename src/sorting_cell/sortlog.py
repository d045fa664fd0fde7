"""Durable record of what went where, so an interrupted sort resumes instead of repeating.

A sort is planned once (snapshot -> objects -> boxes) and then executed object by object.
:class:`SortLog` keeps both in one SQLite file: the plan is written in a single transaction
before anything moves, and every pick is recorded as ``started`` before the arm moves and
with its outcome afterwards. Writes use ``synchronous=FULL`` in WAL mode, so a committed
record survives a crash or power loss of the process that wrote it.

Object states::

    pending --mark_started--> started --mark_outcome--> done | failed
       ^                         |
       +------- mark_pending ----+   (pick interrupted by a cancel: try again later)

A ``started`` object found on resume had its pick interrupted by a crash: it is retried
(the arm reports a failure if it had in fact been moved). The snapshot (frame, depth, masks)
that the plan was made from is kept beside the database as ``<sort_id>.npz`` so that a resumed
sort picks the same objects with the same masks.

Box fill: what the boxes hold (per box and lane: pile height and object count) outlives any
sort and any restart of the sorter. A pick's outcome and the fill it leaves are written in one
transaction (:meth:`SortLog.mark_outcome` with ``fill``), so a crash never counts an object
placed without counting it in its box, or the reverse; :meth:`SortLog.empty_boxes` records
that boxes were emptied.

What the boxes hold is kept too: the snapshot carries each object's appearance features
(``features``, and ``sizes`` / ``outlines`` when they were weighed in; one row per object in
plan order), so :meth:`SortLog.box_contents` can tell a later sort that continues these
boxes (``options['into']``) what each box holds.

This module never imports rclpy.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ['SortLog', 'SortRecord', 'LoggedObject', 'SortLogError', 'OBJECT_STATES',
           'SORT_STATES', 'BoxFill', 'default_directory']

#: What the boxes hold: ``{box: [(height_m, count) per lane]}``.
BoxFill = dict[int, list[tuple[float, int]]]

OBJECT_STATES = ('pending', 'started', 'done', 'failed')
SORT_STATES = ('running', 'succeeded', 'failed', 'canceled', 'aborted', 'abandoned')
#: 'abandoned': unfinished when the tray changed or another sort was asked for; never resumed.
_FINISHED = ('succeeded', 'failed', 'abandoned')
_ID_RE = re.compile(r'^[A-Za-z0-9_.:-]{1,128}$')

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sorts (
    sort_id    TEXT PRIMARY KEY,
    num_boxes  INTEGER NOT NULL,
    state      TEXT NOT NULL,
    message    TEXT NOT NULL DEFAULT '',
    options    TEXT NOT NULL DEFAULT '{}',
    created    REAL NOT NULL,
    updated    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    sort_id    TEXT NOT NULL REFERENCES sorts(sort_id),
    object_id  TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    box        INTEGER NOT NULL,
    state      TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    attempts   INTEGER NOT NULL DEFAULT 0,
    info       TEXT NOT NULL DEFAULT '{}',
    updated    REAL NOT NULL,
    PRIMARY KEY (sort_id, object_id)
);
CREATE TABLE IF NOT EXISTS box_fill (
    box        INTEGER NOT NULL,
    lane       INTEGER NOT NULL,
    height     REAL NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (box, lane)
);
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    t          REAL NOT NULL,
    sort_id    TEXT NOT NULL,
    object_id  TEXT,
    event      TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
);
"""


def default_directory() -> Path:
    """Where the sorter keeps its log unless told: ``$SORTING_CELL_SORT_LOG`` or
    ``~/.local/state/sorting_cell/sortlog``."""
    return Path(os.environ.get('SORTING_CELL_SORT_LOG') or
                Path.home() / '.local' / 'state' / 'sorting_cell' / 'sortlog')


class SortLogError(RuntimeError):
    """The log cannot do what was asked (unknown sort, bad id, wrong state...)."""


@dataclass
class LoggedObject:
    """One object of a sort as recorded: its box, state and what we knew about it.

    ``info`` holds JSON-able perception facts: ``bbox`` (x0, y0, x1, y1), ``centroid``,
    ``score``, ``position`` (x, y, z or None).
    """

    object_id: str
    box: int
    state: str = 'pending'
    reason: str = ''
    attempts: int = 0
    info: dict = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in ('done', 'failed')


@dataclass
class SortRecord:
    """A sort as recorded: its plan and each object's state, in pick order."""

    sort_id: str
    num_boxes: int
    state: str
    message: str
    options: dict
    created: float
    objects: list[LoggedObject]

    @property
    def finished(self) -> bool:
        """Succeeded, failed or abandoned for good; canceled/aborted/running ones can be
        resumed."""
        return self.state in _FINISHED

    @property
    def remaining(self) -> list[LoggedObject]:
        return [o for o in self.objects if not o.finished]

    def placements(self) -> dict[str, int]:
        """``object_id -> box`` of every object that reached its box."""
        return {o.object_id: o.box for o in self.objects if o.state == 'done'}


class SortLog:
    """A durable sort log in ``directory`` (``sortlog.sqlite3`` + snapshot files).

    Thread-safe: one connection guarded by a lock (the action server calls it from
    executor threads). Every public write is one committed, fsynced transaction.

    Parameters
    ----------
    directory : path
        Created if missing.

    Examples
    --------
    >>> import tempfile
    >>> log = SortLog(tempfile.mkdtemp())
    >>> sid = log.begin(2, [LoggedObject('a', 0), LoggedObject('b', 1)])
    >>> log.mark_started(sid, 'a'); log.mark_outcome(sid, 'a', True, 'placed')
    >>> [o.object_id for o in log.get(sid).remaining]
    ['b']
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / 'sortlog.sqlite3'
        if not os.access(self.directory, os.W_OK):
            # read-only disk or mount: fail here, not at the first pick
            raise SortLogError(f'{self.directory}: the sort log directory is not writable '
                               '(read-only disk or permissions); the sort log records every '
                               'pick: give it a writable directory')
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False, timeout=10.0)
            self._db.execute('PRAGMA journal_mode=WAL')
            # FULL: fsync the WAL on every commit -- a recorded pick must survive a crash.
            self._db.execute('PRAGMA synchronous=FULL')
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise SortLogError(f'{self.path}: cannot open the sort log ({exc}); move the '
                               'file aside to start a fresh log') from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing ---------------------------------------------------------------------
    def begin(self, num_boxes: int, objects: list[LoggedObject], sort_id: str | None = None,
              options: dict | None = None, snapshot: dict[str, np.ndarray] | None = None) -> str:
        """Record a new sort's plan (all objects pending, boxes fixed) and return its id.

        ``snapshot`` arrays (frame, depth, masks...) are saved first, atomically, so a
        plan in the database always has its snapshot on disk.
        """
        sort_id = sort_id or time.strftime('%Y%m%dT%H%M%S') + '-' + uuid.uuid4().hex[:6]
        if not _ID_RE.match(sort_id):
            raise SortLogError(f'sort id {sort_id!r} must be 1-128 characters of '
                               'letters, digits, _ . : -')
        if num_boxes < 1:
            raise SortLogError(f'num_boxes must be >= 1, got {num_boxes}')
        ids = [o.object_id for o in objects]
        if len(set(ids)) != len(ids):
            raise SortLogError('object ids of a sort must be unique')
        bad = [o for o in objects if not -1 <= o.box < num_boxes]
        if bad:   # -1: no box (a new kind when every box was taken)
            raise SortLogError(f'object {bad[0].object_id!r} has box {bad[0].box}, outside '
                               f'0..{num_boxes - 1} (or -1: no box)')
        with self._writing(f'the plan of sort {sort_id!r}'):
            if snapshot is not None:
                self._save_snapshot(sort_id, snapshot)
            self._insert_plan(sort_id, num_boxes, objects, options)
        return sort_id

    def _insert_plan(self, sort_id: str, num_boxes: int, objects: list[LoggedObject],
                     options: dict | None) -> None:
        now = time.time()
        with self._lock, self._tx():
            if self._db.execute('SELECT 1 FROM sorts WHERE sort_id=?', (sort_id,)).fetchone():
                raise SortLogError(f'sort {sort_id!r} already exists in {self.path}')
            self._db.execute('INSERT INTO sorts VALUES (?,?,?,?,?,?,?)',
                             (sort_id, num_boxes, 'running', '', json.dumps(options or {}),
                              now, now))
            self._db.executemany(
                'INSERT INTO objects VALUES (?,?,?,?,?,?,?,?,?)',
                [(sort_id, o.object_id, i, int(o.box), 'pending', '', 0,
                  json.dumps(o.info), now) for i, o in enumerate(objects)])
            self._event(sort_id, None, 'begin', f'{len(objects)} objects, {num_boxes} boxes')

    def mark_started(self, sort_id: str, object_id: str) -> None:
        """Before the arm moves: the object's pick is under way (one more attempt)."""
        self._set_object(sort_id, object_id, 'started', '', attempt=True)

    def mark_outcome(self, sort_id: str, object_id: str, success: bool, reason: str,
                     fill: BoxFill | None = None) -> None:
        """After the pick: ``done`` (in its box) or ``failed`` with the reason; with
        ``fill``, the boxes' contents after it, in the same transaction."""
        self._set_object(sort_id, object_id, 'done' if success else 'failed', reason,
                         fill=fill)

    def box_fill(self) -> BoxFill:
        """What the boxes hold, as last recorded (boxes never filled are absent)."""
        with self._lock:
            rows = self._db.execute('SELECT box, lane, height, count FROM box_fill '
                                    'ORDER BY box, lane').fetchall()
        fill: BoxFill = {}
        for box, _lane, height, count in rows:
            fill.setdefault(int(box), []).append((float(height), int(count)))
        return fill

    def set_box_fill(self, fill: BoxFill, why: str) -> None:
        """Record what ``fill``'s boxes hold (other boxes unchanged), and why."""
        with self._writing('the box fill'), self._lock, self._tx():
            self._write_fill(fill)
            self._event('', None, 'box_fill', f'{why}: boxes {sorted(fill)}')

    def empty_boxes(self, why: str, boxes: list[int] | None = None) -> None:
        """The boxes (all, or ``boxes``) were emptied."""
        with self._writing('emptied boxes'), self._lock, self._tx():
            if boxes is None:
                self._db.execute('DELETE FROM box_fill')
            else:
                self._db.executemany('DELETE FROM box_fill WHERE box=?',
                                     [(int(b),) for b in boxes])
            self._event('', None, 'boxes_emptied',
                        f'{why}: {"all boxes" if boxes is None else f"boxes {boxes}"}')

    def mark_pending(self, sort_id: str, object_id: str, reason: str) -> None:
        """An interrupted pick (cancel) that left the object in place: try it again later."""
        self._set_object(sort_id, object_id, 'pending', reason)

    def set_state(self, sort_id: str, state: str, message: str = '') -> None:
        """The sort's own state: running again on resume, or how it ended."""
        if state not in SORT_STATES:
            raise SortLogError(f'unknown sort state {state!r}; one of {SORT_STATES}')
        with self._writing(f'sort {sort_id!r} as {state}'), self._lock, self._tx():
            n = self._db.execute('UPDATE sorts SET state=?, message=?, updated=? '
                                 'WHERE sort_id=?', (state, message, time.time(), sort_id))
            if n.rowcount == 0:
                raise SortLogError(f'no sort {sort_id!r} in {self.path}')
            self._event(sort_id, None, state, message)

    # -- reading ---------------------------------------------------------------------
    def get(self, sort_id: str) -> SortRecord | None:
        """The recorded sort, or None when the log has no such id."""
        with self._lock:
            row = self._db.execute('SELECT sort_id, num_boxes, state, message, options, '
                                   'created FROM sorts WHERE sort_id=?', (sort_id,)).fetchone()
            if row is None:
                return None
            objs = self._db.execute('SELECT object_id, box, state, reason, attempts, info '
                                    'FROM objects WHERE sort_id=? ORDER BY seq',
                                    (sort_id,)).fetchall()
        return SortRecord(sort_id=row[0], num_boxes=row[1], state=row[2], message=row[3],
                          options=json.loads(row[4]), created=row[5],
                          objects=[LoggedObject(o[0], o[1], o[2], o[3], o[4], json.loads(o[5]))
                                   for o in objs])

    def latest_unfinished(self, num_boxes: int | None = None) -> SortRecord | None:
        """The most recently created sort that can still be resumed (optionally with
        ``num_boxes`` boxes)."""
        query = ('SELECT sort_id FROM sorts WHERE state NOT IN (?, ?, ?)'
                 + (' AND num_boxes=?' if num_boxes else '') + ' ORDER BY created DESC LIMIT 1')
        args = _FINISHED + ((num_boxes,) if num_boxes else ())
        with self._lock:
            row = self._db.execute(query, args).fetchone()
        return None if row is None else self.get(row[0])

    def sort_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute('SELECT sort_id FROM sorts ORDER BY created')]

    def events(self, sort_id: str) -> list[tuple[float, str | None, str, str]]:
        """``(time, object_id, event, detail)`` history of a sort, oldest first."""
        with self._lock:
            return list(self._db.execute('SELECT t, object_id, event, detail FROM events '
                                         'WHERE sort_id=? ORDER BY seq', (sort_id,)))

    def box_contents(self, sort_id: str):
        """What the boxes of sort ``sort_id`` hold, as :class:`~sorting_cell.perception.
        boxes.Boxes`: its objects recorded done (placed; assigned when nothing moved),
        and those of the sorts it continued (``options['into']``), with their features.

        A clear :class:`SortLogError` when the sort is unknown or its features were not
        kept (planned by the perception nodes, or by an older sorter).
        """
        from .perception.boxes import Boxes
        rows, labels, sizes, outlines, sources, geometry = [], [], [], [], [], True
        sid, seen = sort_id, set()
        while sid:
            if sid in seen:
                raise SortLogError(f'sort {sort_id!r}: the chain of continued sorts loops '
                                   f'at {sid!r}')
            seen.add(sid)
            record = self.get(sid)
            if record is None:
                raise SortLogError(f'no sort {sid!r} in {self.path}')
            snap = self.load_snapshot(sid)
            if snap is None or 'features' not in snap:
                raise SortLogError(f'sort {sid!r} has no recorded box contents (its '
                                   "features were not kept: planned with perception 'nodes' "
                                   'or by an older sorter)')
            geometry &= bool(record.options.get('geometry')) and 'sizes' in snap \
                and 'outlines' in snap
            for j, o in enumerate(record.objects):
                if o.state == 'done' and o.box >= 0:
                    rows.append(snap['features'][j])
                    labels.append(o.box)
                    sources.append(f'{sid}/{o.object_id}')
                    if geometry:
                        sizes.append(snap['sizes'][j])
                        outlines.append(snap['outlines'][j])
            sid = record.options.get('into', '')
        width = len(rows[0]) if rows else 0
        geometry = geometry and len(sizes) == len(rows) > 0
        return Boxes(rows=np.asarray(rows, np.float32).reshape(len(rows), width),
                     labels=np.asarray(labels, int), sizes=np.asarray(sizes) if geometry
                     else None, outlines=np.asarray(outlines) if geometry else None,
                     geometry=geometry, params={'features': self.get(sort_id).options.get(
                         'features', '')}, sources=sources)

    def load_snapshot(self, sort_id: str) -> dict[str, np.ndarray] | None:
        path = self.directory / f'{sort_id}.npz'
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    # -- internals -------------------------------------------------------------------
    def _write_fill(self, fill: BoxFill) -> None:
        for box, lanes in fill.items():
            if int(box) < 0 or any(h < 0 or c < 0 for h, c in lanes):
                raise SortLogError(f'box fill of box {box}: {lanes} is not a fill')
            self._db.execute('DELETE FROM box_fill WHERE box=?', (int(box),))
            self._db.executemany('INSERT INTO box_fill VALUES (?,?,?,?)',
                                 [(int(box), k, float(h), int(c))
                                  for k, (h, c) in enumerate(lanes)])

    def _set_object(self, sort_id: str, object_id: str, state: str, reason: str,
                    attempt: bool = False, fill: BoxFill | None = None) -> None:
        with self._writing(f'{object_id} of sort {sort_id!r} as {state}'), self._lock, \
                self._tx():
            n = self._db.execute(
                'UPDATE objects SET state=?, reason=?, attempts=attempts+?, updated=? '
                'WHERE sort_id=? AND object_id=?',
                (state, reason, int(attempt), time.time(), sort_id, object_id))
            if n.rowcount == 0:
                raise SortLogError(f'no object {object_id!r} in sort {sort_id!r}')
            if fill is not None:
                self._write_fill(fill)
            self._event(sort_id, object_id, state, reason)

    def _event(self, sort_id: str, object_id: str | None, event: str, detail: str) -> None:
        self._db.execute('INSERT INTO events (t, sort_id, object_id, event, detail) '
                         'VALUES (?,?,?,?,?)', (time.time(), sort_id, object_id, event, detail))

    def _tx(self):
        return _Transaction(self._db)

    @contextlib.contextmanager
    def _writing(self, what: str):
        """A failed write (disk full, read-only, I/O error) as a :class:`SortLogError`
        that says where and what could not be recorded."""
        try:
            yield
        except (OSError, sqlite3.Error) as exc:
            raise SortLogError(f'sort log {self.directory}: cannot record {what} '
                               f'({type(exc).__name__}: {exc})') from exc

    def _save_snapshot(self, sort_id: str, snapshot: dict[str, np.ndarray]) -> None:
        final = self.directory / f'{sort_id}.npz'
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix='.npz.tmp')
        try:
            with os.fdopen(fd, 'wb') as fh:
                np.savez_compressed(fh, **snapshot)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dfd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dfd)   # make the rename itself durable
        finally:
            os.close(dfd)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (autocommit connection)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute('BEGIN IMMEDIATE')
        return self.db

    def __exit__(self, exc_type, exc, tb):
        self.db.execute('ROLLBACK' if exc_type else 'COMMIT')
        return False
