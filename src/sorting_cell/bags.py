"""Standard rosbag2 files without ROS: write, read and decode them with ``rosbags``.

Everything here is ROS-free (no rclpy): the recorder and replay nodes move raw CDR bytes
between DDS and these functions, and tests and tools build bags straight from image files.

- :func:`write_image_bag` / :func:`bag_from_tools` -- a camera bag (``sensor_msgs/Image``
  rgb8 + ``sensor_msgs/CameraInfo``) from image files at a fixed rate, e.g. the tool
  dataset, so the whole pipeline can be replayed without a camera.
- :class:`BagWriter` -- append raw CDR messages of any type (custom interface types are
  registered from their ``.msg`` text, found with :func:`register_msg_types`), with the
  offered QoS profiles (:func:`offered_qos`) and type hashes of the recorded publishers, as
  rosbag2 Jazzy writes them (metadata version 9).
- :func:`read_messages` / :func:`read_images` -- iterate a bag back.
- :func:`image_to_rgb8` -- turn an Image message's fields into an RGB array, or raise
  :class:`ImageEncodingError` saying why not.
- :class:`Intrinsics` -- the pinhole model a ``CameraInfo`` carries.
"""
from __future__ import annotations

import functools
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np

from .images import IMAGE_SUFFIXES, load_image

__all__ = ['BagWriter', 'BagSummary', 'BagMessage', 'ImageEncodingError', 'Intrinsics',
           'IMAGE_TOPIC', 'INFO_TOPIC', 'SUPPORTED_ENCODINGS', 'typestore',
           'register_msg_types', 'find_msg_file', 'image_cdr', 'camera_info_cdr',
           'image_to_rgb8', 'write_image_bag', 'bag_from_tools', 'list_images',
           'read_messages', 'read_images', 'summarize', 'offered_qos', 'rihs01_hash',
           'is_latched', 'ROS_DISTRO', 'METADATA_VERSION']

IMAGE_TOPIC = '/camera/image_raw'
INFO_TOPIC = '/camera/camera_info'
IMAGE_TYPE = 'sensor_msgs/msg/Image'
INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
# What rosbag2 of this distribution writes: metadata version 9 (QoS profiles as a YAML list
# of named policies, type_description_hash, ros_distro).
ROS_DISTRO = 'jazzy'
METADATA_VERSION = 9

# encoding -> (channels, dtype); what the pipeline can turn into rgb8 without guessing.
SUPPORTED_ENCODINGS = {
    'rgb8': (3, np.uint8), 'bgr8': (3, np.uint8), 'rgba8': (4, np.uint8),
    'bgra8': (4, np.uint8), 'mono8': (1, np.uint8), 'mono16': (1, np.uint16),
}


class ImageEncodingError(ValueError):
    """An Image message cannot be turned into RGB pixels (encoding, size or layout)."""


def typestore():
    """A fresh ROS 2 Jazzy typestore (standard messages; add custom ones with
    :func:`register_msg_types`)."""
    from rosbags.typesys import Stores, get_typestore
    return get_typestore(Stores.ROS2_JAZZY)


# ----------------------------------------------------------------------------- custom types

def _msg_search_roots() -> list[Path]:
    roots = [Path(p) for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    roots.append(Path(sys.prefix))
    # The source tree's interface packages, for a checkout whose interfaces are not built.
    repo = Path(__file__).resolve().parents[2] / 'interfaces'
    return roots + ([repo] if repo.is_dir() else [])


def find_msg_file(msgtype: str) -> Path | None:
    """Locate the ``.msg`` definition of ``pkg/msg/Name`` in installed or source packages."""
    pkg, kind, name = _split_type(msgtype)
    for root in _msg_search_roots():
        for candidate in (root / 'share' / pkg / kind / f'{name}.msg',
                          root / pkg / kind / f'{name}.msg'):
            if candidate.is_file():
                return candidate
    return None


def rihs01_hash(msgtype: str, store=None) -> str:
    """The RIHS01 type hash of ``pkg/msg/Name``, as ROS 2 computes it.

    Read from the type description the interface package installs
    (``share/<pkg>/msg/<Name>.json``); without one, computed from ``store``'s definition
    (the same algorithm, rosbags' implementation).

    Raises
    ------
    KeyError
        No installed description and the type is not in ``store``.
    """
    import json

    pkg, kind, name = _split_type(msgtype)
    full = f'{pkg}/{kind}/{name}'
    for root in _msg_search_roots():
        path = root / 'share' / pkg / kind / f'{name}.json'
        if path.is_file():
            try:
                hashes = json.loads(path.read_text())['type_hashes']
                return next(h['hash_string'] for h in hashes if h['type_name'] == full)
            except (OSError, ValueError, KeyError, TypeError, StopIteration):
                break  # a damaged description: compute it instead
    store = store if store is not None else typestore()
    register_msg_types(store, [full])
    return store.hash_rihs01(full)


def offered_qos(history: int, depth: int, reliability: int, durability: int,
                deadline_ns: int, lifespan_ns: int, liveliness: int,
                liveliness_lease_duration_ns: int, avoid_ros_namespace_conventions: bool):
    """One offered QoS profile as rosbag2 stores it, from the ``rmw`` enum values a ROS graph
    query reports (a publisher's profile seen through the graph has history ``UNKNOWN`` and
    depth 0, exactly what rosbag2 records)."""
    from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness,
                                    QosReliability, QosTime)

    def time_(ns: int) -> QosTime:
        return QosTime(int(ns) // 10**9, int(ns) % 10**9)

    return Qos(QosHistory(int(history)), int(depth), QosReliability(int(reliability)),
               QosDurability(int(durability)), time_(deadline_ns), time_(lifespan_ns),
               QosLiveliness(int(liveliness)), time_(liveliness_lease_duration_ns),
               bool(avoid_ros_namespace_conventions))


def is_latched(profiles: Sequence) -> bool:
    """Whether a topic was offered latched: every recorded publisher TRANSIENT_LOCAL (the
    rule rosbag2's player applies; mixed offers replay volatile, which every subscriber
    accepts)."""
    from rosbags.interfaces import QosDurability

    return bool(profiles) and all(q.durability == QosDurability.TRANSIENT_LOCAL
                                  for q in profiles)


def _split_type(msgtype: str) -> tuple[str, str, str]:
    parts = msgtype.split('/')
    if len(parts) == 2:
        parts = [parts[0], 'msg', parts[1]]
    if len(parts) != 3 or not all(parts):
        raise ValueError(f'not a ROS message type name: {msgtype!r} (expected pkg/msg/Name)')
    return parts[0], parts[1], parts[2]


def register_msg_types(store, msgtypes: Iterable[str]) -> list[str]:
    """Register message types (and the types they use) that ``store`` does not know yet.

    Definitions come from ``share/<pkg>/msg/<Name>.msg`` under ``AMENT_PREFIX_PATH`` and the
    venv, or from the source tree's ``interfaces/`` folder.

    Returns
    -------
    list of str
        The type names that were added.

    Raises
    ------
    KeyError
        A type is unknown and its ``.msg`` file cannot be found.
    """
    from rosbags.typesys import get_types_from_msg
    from rosbags.typesys.base import Nodetype

    added: list[str] = []
    pending = ['/'.join(_split_type(t)) for t in msgtypes]
    while pending:
        name = pending.pop()
        if name in store.types:
            continue
        path = find_msg_file(name)
        if path is None:
            raise KeyError(f'message type {name!r} is not a standard type and no {name}.msg '
                           'was found (build the interface package, or set AMENT_PREFIX_PATH)')
        types = get_types_from_msg(path.read_text(), name)
        store.register(types)
        added.append(name)
        for _, fields in types.values():
            for _, (node, arg) in fields:
                while node in (Nodetype.ARRAY, Nodetype.SEQUENCE):
                    node, arg = arg[0]
                if node == Nodetype.NAME and arg not in store.types:
                    pending.append(arg)
    return added


# ----------------------------------------------------------------------------- camera model

@dataclass
class Intrinsics:
    """Pinhole camera model as carried by ``sensor_msgs/CameraInfo`` (row-major lists)."""

    width: int
    height: int
    k: list[float]
    d: list[float] = field(default_factory=lambda: [0.0] * 5)
    r: list[float] = field(default_factory=lambda: [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0])
    p: list[float] | None = None
    distortion_model: str = 'plumb_bob'

    def __post_init__(self):
        if len(self.k) != 9 or len(self.r) != 9:
            raise ValueError('camera matrix and rectification matrix need 9 values each')
        if self.p is None:
            k = self.k
            self.p = [k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
        if len(self.p) != 12:
            raise ValueError('projection matrix needs 12 values')

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float = 60.0) -> 'Intrinsics':
        """Ideal pinhole with square pixels and the principal point at the centre."""
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f'horizontal field of view must be in (0, 180) deg, got {hfov_deg}')
        f = (width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)
        return cls(width, height, [f, 0.0, (width - 1) / 2.0, 0.0, f, (height - 1) / 2.0,
                                   0.0, 0.0, 1.0])

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> 'Intrinsics':
        """Read a ROS ``camera_calibration`` / ``camera_info_manager`` YAML file."""
        import yaml

        path = Path(path)
        try:
            doc = yaml.safe_load(path.read_text())
            return cls(int(doc['image_width']), int(doc['image_height']),
                       [float(v) for v in doc['camera_matrix']['data']],
                       [float(v) for v in doc.get('distortion_coefficients', {}).get(
                           'data', [0.0] * 5)],
                       [float(v) for v in doc.get('rectification_matrix', {}).get(
                           'data', [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0])],
                       [float(v) for v in doc['projection_matrix']['data']]
                       if 'projection_matrix' in doc else None,
                       str(doc.get('distortion_model', 'plumb_bob')))
        except OSError as exc:
            raise ValueError(f'{path}: cannot read calibration file: {exc}') from exc
        except (KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
            raise ValueError(f'{path}: not a ROS camera calibration file ({exc!r} missing or '
                             'malformed; expected image_width, image_height, camera_matrix)'
                             ) from exc


# ----------------------------------------------------------------------------- messages

def _header(store, stamp_ns: int, frame_id: str):
    types = store.types
    stamp = types['builtin_interfaces/msg/Time'](sec=int(stamp_ns // 10**9),
                                                 nanosec=int(stamp_ns % 10**9))
    return types['std_msgs/msg/Header'](stamp=stamp, frame_id=frame_id)


def image_cdr(store, rgb: np.ndarray, stamp_ns: int, frame_id: str = 'camera',
              encoding: str = 'rgb8') -> bytes:
    """Serialise an HxWxC uint8 array as a ``sensor_msgs/Image`` (CDR bytes)."""
    arr = np.ascontiguousarray(rgb)
    height, width = arr.shape[:2]
    msg = store.types[IMAGE_TYPE](
        header=_header(store, stamp_ns, frame_id), height=height, width=width,
        encoding=encoding, is_bigendian=0, step=arr.strides[0], data=arr.reshape(-1).view(
            np.uint8))
    return bytes(store.serialize_cdr(msg, IMAGE_TYPE))


def camera_info_cdr(store, intrinsics: Intrinsics, stamp_ns: int,
                    frame_id: str = 'camera') -> bytes:
    """Serialise :class:`Intrinsics` as a ``sensor_msgs/CameraInfo`` (CDR bytes)."""
    types = store.types
    roi = types['sensor_msgs/msg/RegionOfInterest'](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    msg = types[INFO_TYPE](
        header=_header(store, stamp_ns, frame_id), height=intrinsics.height,
        width=intrinsics.width, distortion_model=intrinsics.distortion_model,
        d=np.asarray(intrinsics.d, dtype=np.float64), k=np.asarray(intrinsics.k, np.float64),
        r=np.asarray(intrinsics.r, np.float64), p=np.asarray(intrinsics.p, np.float64),
        binning_x=0, binning_y=0, roi=roi)
    return bytes(store.serialize_cdr(msg, INFO_TYPE))


def image_to_rgb8(encoding: str, height: int, width: int, step: int, data,
                  is_bigendian: int = 0, source: str = 'image') -> np.ndarray:
    """Decode the pixel fields of a ``sensor_msgs/Image`` into an HxWx3 RGB uint8 array.

    Parameters
    ----------
    encoding, height, width, step, data, is_bigendian
        The message's fields (``data`` as bytes, array or memoryview).
    source : str
        Named in error messages (topic, bag, index).

    Raises
    ------
    ImageEncodingError
        Unsupported encoding, zero size, or a data length that does not match
        ``step * height``.
    """
    if encoding not in SUPPORTED_ENCODINGS:
        raise ImageEncodingError(
            f'{source}: unsupported image encoding {encoding!r} (supported: '
            f'{", ".join(SUPPORTED_ENCODINGS)}); depth/float/Bayer/YUV images are not colour '
            'camera frames')
    channels, dtype = SUPPORTED_ENCODINGS[encoding]
    if height <= 0 or width <= 0:
        raise ImageEncodingError(f'{source}: empty image ({width}x{height})')
    itemsize = np.dtype(dtype).itemsize
    row = width * channels * itemsize
    if step < row:
        raise ImageEncodingError(f'{source}: step {step} is shorter than one {encoding} row '
                                 f'of width {width} ({row} bytes)')
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != step * height:
        raise ImageEncodingError(f'{source}: data has {buf.size} bytes, but step*height = '
                                 f'{step}*{height} = {step * height}')
    rows = buf.reshape(height, step)[:, :row]
    pix = np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(
        '>' if is_bigendian else '<'))
    pix = pix.reshape(height, width, channels) if channels > 1 else pix.reshape(height, width)
    if dtype == np.uint16:
        pix = (pix.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    convert = {'bgr8': cv2.COLOR_BGR2RGB, 'rgba8': cv2.COLOR_RGBA2RGB,
               'bgra8': cv2.COLOR_BGRA2RGB, 'mono8': cv2.COLOR_GRAY2RGB,
               'mono16': cv2.COLOR_GRAY2RGB}.get(encoding)
    return np.ascontiguousarray(pix if convert is None else cv2.cvtColor(pix, convert))


# ----------------------------------------------------------------------------- writing

@dataclass
class BagSummary:
    """What a bag holds: path, message counts per topic, time span."""

    path: Path
    counts: dict[str, int]
    start_ns: int
    end_ns: int
    types: dict[str, str] = field(default_factory=dict)
    #: topic -> the QoS profiles its recorded publishers offered (``rosbags.interfaces.Qos``)
    qos: dict[str, list] = field(default_factory=dict)
    #: topic -> RIHS01 type hash
    hashes: dict[str, str] = field(default_factory=dict)
    ros_distro: str | None = None

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


def _as_jazzy(text: str) -> str:
    """rosbags' metadata text as rosbag2 Jazzy writes it: this distribution's name instead of
    ``rosbags``, and long values (type hashes) on one line, not folded."""
    from io import StringIO

    from ruamel.yaml import YAML

    yaml = YAML(typ='safe')
    doc = yaml.load(text)
    info = doc.get('rosbag2_bagfile_information', doc)
    info['ros_distro'] = ROS_DISTRO
    yaml.default_flow_style = False
    yaml.width = 4096
    out = StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


@functools.cache
def _writer_class():
    """rosbags' rosbag2 writer, with the metadata it stores in the bag and in metadata.yaml
    made what rosbag2 Jazzy writes (see :func:`_as_jazzy`)."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.rosbag2.storage_mcap import McapWriter
    from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer

    class JazzyMcap(McapWriter):
        def close(self, version: int, metadata: str) -> None:
            super().close(version, _as_jazzy(metadata).strip())

    class JazzySqlite3(Sqlite3Writer):
        def close(self, version: int, metadata: str) -> None:
            super().close(version, _as_jazzy(metadata).strip())

    class JazzyWriter(Writer):
        STORAGE_PLUGINS = {StoragePlugin.MCAP: JazzyMcap, StoragePlugin.SQLITE3: JazzySqlite3}

        def close(self) -> None:
            super().close()
            tmp = self.metapath.with_suffix('.yaml.tmp')
            tmp.write_text(_as_jazzy(self.metapath.read_text()), 'utf8')
            tmp.replace(self.metapath)

    return JazzyWriter


class BagWriter:
    """Append raw CDR messages to a new rosbag2 (MCAP by default).

    Use as a context manager; ``metadata.yaml`` is written on :meth:`close`, so a bag whose
    writer was never closed is incomplete (the recorder closes it on Ctrl-C).

    Parameters
    ----------
    path : path-like
        Bag directory to create; must not exist.
    storage : {'mcap', 'sqlite3'}
        rosbag2 storage plugin.
    store : Typestore, optional
        Types to use; custom types are registered on demand by :meth:`add_topic`.
    """

    def __init__(self, path: str | os.PathLike, storage: str = 'mcap', store=None):
        from rosbags.rosbag2 import StoragePlugin

        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f'{self.path}: bag output already exists; choose a new path '
                                  '(rosbag2 never overwrites a recording)')
        plugins = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise ValueError(f'storage must be one of {sorted(plugins)}, got {storage!r}')
        self.store = store if store is not None else typestore()
        self._writer = _writer_class()(self.path, version=METADATA_VERSION,
                                       storage_plugin=plugins[storage])
        self._writer.open()
        self._connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        self.types: dict[str, str] = {}
        self.qos: dict[str, list] = {}
        self.hashes: dict[str, str] = {}
        self.start_ns: int | None = None
        self.end_ns: int | None = None

    def add_topic(self, topic: str, msgtype: str, offered_qos: Sequence = (),
                  type_hash: str | None = None) -> None:
        """Declare ``topic`` (made absolute) with type ``pkg/msg/Name``.

        Parameters
        ----------
        offered_qos : sequence of rosbags ``Qos``
            The profiles its publishers offered (see :func:`offered_qos`); a replay
            publishes the topic latched when they all were.
        type_hash : str, optional
            RIHS01 hash the publishers announced; default the installed type's
            (:func:`rihs01_hash`).
        """
        topic = '/' + topic.lstrip('/')
        if topic in self._connections:
            if self.types[topic] != msgtype:
                raise ValueError(f'{topic} already recorded as {self.types[topic]}, '
                                 f'not {msgtype}')
            return
        register_msg_types(self.store, [msgtype])
        msgdef, _ = self.store.generate_msgdef(msgtype, ros_version=2)
        digest = type_hash or rihs01_hash(msgtype, self.store)
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, msgdef=msgdef, rihs01=digest, offered_qos_profiles=offered_qos)
        self.types[topic] = msgtype
        self.qos[topic] = list(offered_qos)
        self.hashes[topic] = digest
        self.counts[topic] = 0

    def write(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Append one serialised message received at ``timestamp_ns`` (nanoseconds)."""
        topic = '/' + topic.lstrip('/')
        if topic not in self._connections:
            raise KeyError(f'{topic}: call add_topic(topic, msgtype) before writing to it')
        self._writer.write(self._connections[topic], int(timestamp_ns), data)
        self.counts[topic] += 1
        self.start_ns = (timestamp_ns if self.start_ns is None
                         else min(self.start_ns, timestamp_ns))
        self.end_ns = timestamp_ns if self.end_ns is None else max(self.end_ns, timestamp_ns)

    def close(self) -> BagSummary:
        """Finish the bag (writes metadata.yaml) and return what it holds."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return BagSummary(self.path, dict(self.counts), self.start_ns or 0, self.end_ns or 0,
                          dict(self.types), dict(self.qos), dict(self.hashes), ROS_DISTRO)

    def __enter__(self) -> 'BagWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def list_images(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` in sorted path order.

    Raises
    ------
    FileNotFoundError
        ``folder`` does not exist or is not a directory.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f'{folder}: image folder does not exist or is not a directory')
    pattern = '**/*' if recursive else '*'
    return sorted(p for p in folder.glob(pattern)
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def write_image_bag(out: str | os.PathLike, images: Sequence[str | os.PathLike],
                    rate_hz: float = 10.0, start_ns: int | None = None,
                    frame_id: str = 'camera', hfov_deg: float = 60.0,
                    storage: str = 'mcap', camera_info: bool = True,
                    progress: bool = False) -> BagSummary:
    """Write image files as a camera stream: one rgb8 Image (+ CameraInfo) per file.

    Frames are spaced ``1 / rate_hz`` apart from ``start_ns`` (default: now); header stamps
    equal the bag's receive timestamps. Unreadable files are skipped with a warning so
    one bad file does not lose a whole recording.

    Raises
    ------
    ValueError
        No images given, a non-positive rate, or not one readable image.
    """
    from tqdm import tqdm

    if rate_hz <= 0:
        raise ValueError(f'rate_hz must be positive, got {rate_hz}')
    if not images:
        raise ValueError('no images to write')
    t0 = time.time_ns() if start_ns is None else int(start_ns)
    period = int(round(1e9 / rate_hz))
    writer = BagWriter(out, storage=storage)
    written = 0
    try:
        writer.add_topic(IMAGE_TOPIC, IMAGE_TYPE)
        if camera_info:
            writer.add_topic(INFO_TOPIC, INFO_TYPE)
        intr = None
        for path in tqdm(images, desc='bag', unit='img', disable=not progress):
            try:
                rgb = load_image(path)
            except ValueError as exc:
                warnings.warn(f'skipped: {exc}', stacklevel=2)
                continue
            stamp = t0 + written * period
            writer.write(IMAGE_TOPIC, stamp, image_cdr(writer.store, rgb, stamp, frame_id))
            if camera_info:
                if intr is None or (intr.width, intr.height) != (rgb.shape[1], rgb.shape[0]):
                    intr = Intrinsics.from_fov(rgb.shape[1], rgb.shape[0], hfov_deg)
                writer.write(INFO_TOPIC, stamp,
                             camera_info_cdr(writer.store, intr, stamp, frame_id))
            written += 1
    finally:
        summary = writer.close()
    if written == 0:
        raise ValueError(f'none of the {len(images)} images could be read; {out} holds no '
                         'frames')
    return summary


def bag_from_tools(out: str | os.PathLike, condition: int = 3, root: str | os.PathLike |
                   None = None, classes: Sequence[str] | None = None,
                   per_class: int | None = None, rate_hz: float = 10.0,
                   **kwargs) -> BagSummary:
    """Write a camera bag from the tool dataset (``conditions<condition>/<class>/*.jpg``).

    Parameters
    ----------
    out : path-like
        Bag directory to create.
    condition : int
        Lighting/background condition 1..5.
    root : path-like, optional
        Dataset root; default ``sorting_cell.assets.resolve('tools')``.
    classes : sequence of str, optional
        Restrict to these class folders.
    per_class : int, optional
        At most this many images per class (in sorted order).
    rate_hz : float
        Frame rate of the written stream.
    **kwargs
        Passed to :func:`write_image_bag`.
    """
    if root is None:
        from .assets import resolve
        root = resolve('tools')
    folder = Path(root) / f'conditions{condition}'
    if not folder.is_dir():
        raise FileNotFoundError(f'{folder}: no such condition in the tool dataset '
                                f'(expected conditions1..conditions5 under {root})')
    available = sorted(p.name for p in folder.iterdir() if p.is_dir())
    chosen = list(classes) if classes else available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise ValueError(f'unknown tool classes {unknown}; available: {available}')
    images: list[Path] = []
    for name in chosen:
        files = list_images(folder / name, recursive=False)
        images += files[:per_class] if per_class else files
    return write_image_bag(out, images, rate_hz=rate_hz, **kwargs)


# ----------------------------------------------------------------------------- reading

@dataclass
class BagMessage:
    """One message as stored: topic, type, receive timestamp (ns) and raw CDR bytes."""

    topic: str
    msgtype: str
    timestamp_ns: int
    data: bytes


def _bag_source(path: str | os.PathLike) -> tuple[Path, bool]:
    """``(path, bare)``: a rosbag2 directory (metadata.yaml; its storage file is accepted
    too), or a bare ``.mcap`` file without one (as ``ros2 bag play`` accepts, e.g. written by
    the MCAP library's ROS 2 writer)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f'{path}: no such bag')
    if path.is_file() and (path.parent / 'metadata.yaml').is_file():
        return path.parent, False
    if path.is_file() and path.suffix == '.mcap':
        return path, True
    if not (path / 'metadata.yaml').is_file():
        raise ValueError(f'{path}: not a rosbag2 directory (metadata.yaml missing; was the '
                         'recording closed cleanly?) nor an .mcap file')
    return path, False


def _open_reader(path: Path):
    from rosbags.rosbag2 import Reader

    return Reader(path)


def _msgtype(name: str) -> str:
    return '/'.join(_split_type(name))


def _mcap_summary(path: Path):
    from mcap.exceptions import McapError
    from mcap.reader import make_reader

    try:
        with open(path, 'rb') as f:
            reader = make_reader(f)
            summary = reader.get_summary()
            distro = next((m.metadata.get('ROS_DISTRO') for m in reader.iter_metadata()
                           if m.name == 'rosbag2'), None)
    except (McapError, OSError, EOFError, ValueError) as exc:
        raise ValueError(f'{path}: not a readable MCAP file ({type(exc).__name__}: {exc})'
                         ) from exc
    if summary is None or summary.statistics is None:
        raise ValueError(f'{path}: MCAP file without a summary (was it closed?)')
    return summary, distro


def read_messages(path: str | os.PathLike,
                  topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """Yield the messages of a bag in timestamp order, optionally only ``topics``."""
    wanted = None if topics is None else {'/' + t.lstrip('/') for t in topics}
    path, bare = _bag_source(path)
    if bare:
        from mcap.reader import make_reader

        with open(path, 'rb') as f:
            for schema, channel, msg in make_reader(f).iter_messages(
                    topics=None if wanted is None else sorted(wanted), log_time_order=True):
                yield BagMessage(channel.topic, _msgtype(schema.name), msg.log_time,
                                 bytes(msg.data))
        return
    with _open_reader(path) as reader:
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        for conn, stamp, raw in reader.messages(connections=conns):
            yield BagMessage(conn.topic, conn.msgtype, stamp, bytes(raw))


def summarize(path: str | os.PathLike) -> BagSummary:
    """Counts, types, offered QoS and time span of a bag (from its index, without reading
    messages)."""
    path, bare = _bag_source(path)
    if bare:
        from rosbags.rosbag2.metadata import parse_qos

        summary, distro = _mcap_summary(path)
        stats, schemas = summary.statistics, summary.schemas
        channels = summary.channels.values()
        return BagSummary(
            path, {c.topic: stats.channel_message_counts.get(c.id, 0) for c in channels},
            stats.message_start_time, stats.message_end_time,
            {c.topic: _msgtype(schemas[c.schema_id].name) for c in channels},
            {c.topic: parse_qos(c.metadata.get('offered_qos_profiles', '')) for c in channels},
            {c.topic: c.metadata.get('topic_type_hash', '') for c in channels}, distro)
    with _open_reader(path) as reader:
        conns = reader.connections
        return BagSummary(Path(reader.path), {c.topic: c.msgcount for c in conns},
                          reader.start_time, reader.end_time,
                          {c.topic: c.msgtype for c in conns},
                          {c.topic: list(getattr(c.ext, 'offered_qos_profiles', []))
                           for c in conns},
                          {c.topic: c.digest for c in conns}, reader.ros_distro)


def read_images(path: str | os.PathLike, topic: str = IMAGE_TOPIC
                ) -> Iterator[tuple[int, np.ndarray, object]]:
    """Yield ``(timestamp_ns, rgb, msg)`` for each Image on ``topic``.

    Raises
    ------
    ImageEncodingError
        A frame that cannot be decoded (named by topic and index).
    """
    store = typestore()
    for i, m in enumerate(read_messages(path, [topic])):
        msg = store.deserialize_cdr(m.data, m.msgtype)
        rgb = image_to_rgb8(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                            msg.is_bigendian, source=f'{m.topic}[{i}]')
        yield m.timestamp_ns, rgb, msg
