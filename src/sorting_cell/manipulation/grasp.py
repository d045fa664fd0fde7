"""Top-down grasp poses from what the camera sees: a mask, a depth image, a camera model.

Pipeline: erode the mask (depth at silhouette edges mixes object and table), back-project
its pixels to world points with the intrinsics and the camera pose, estimate the local
table height from a ring of pixels around the mask, find the footprint's principal axis
(PCA of the points' x-y), and close the fingers across it at the centroid. The opening
width and the grasp height come from the points in a slab around the grasp point, so a
screwdriver is gripped by what is under the fingers, not by its widest part.

Nothing here reads simulator state: the same code runs on a real RGB-D camera.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ['GraspPose', 'GraspError', 'backproject', 'table_height', 'plan_grasp',
           'relocate', 'relocate_all', 'split_mask', 'validate_camera_info']


class GraspError(ValueError):
    """No grasp can be computed; ``reason`` is a PickOutcome-style ``'word: detail'``."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass
class GraspPose:
    """A top-down parallel-jaw grasp in the world frame.

    Attributes
    ----------
    position : (3,) array
        Where the tool site goes (between the finger pads), m.
    yaw : float
        Direction of the closing axis in the x-y plane, rad, in (-pi/2, pi/2].
    width : float
        Opening before closing, m.
    approach_z : float
        Height of the pre-grasp pose directly above ``position``, m.
    object_width : float
        Measured extent across the closing axis under the fingers, m.
    object_length : float
        Extent along the principal axis, m.
    object_height : float
        Top of the object above the table, m.
    table_z : float
        Table height around the object, m.
    n_points : int
        Valid depth pixels used.
    axis : (2,) array
        Unit vector of the principal (long) axis in the x-y plane.
    extent : (lo, hi)
        Where the object begins and ends along ``axis`` relative to ``position``, m.
    footprint : (N, 2) array
        Convex outline of everything seen of the object, x-y relative to ``position``, m
        (where the object is around the fingers: placing keeps all of it in the box).
    """

    position: np.ndarray
    yaw: float
    width: float
    approach_z: float
    object_width: float
    object_length: float
    object_height: float
    table_z: float
    n_points: int
    axis: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0]))
    extent: tuple[float, float] = (0.0, 0.0)
    footprint: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))


def validate_camera_info(camera_info: dict | None, shape: tuple[int, int]) -> tuple:
    """Return ``(K, T_world_camera)`` from a camera_info dict or raise :class:`GraspError`."""
    if camera_info is None:
        raise GraspError('no_perception: camera_info (K, T_world_camera) is missing')
    try:
        K = np.asarray(camera_info['K'], float).reshape(3, 3)
        T = np.asarray(camera_info['T_world_camera'], float).reshape(4, 4)
    except KeyError as exc:
        raise GraspError(f'no_perception: camera_info lacks {exc.args[0]!r}') from None
    except ValueError as exc:
        raise GraspError(f'no_perception: malformed camera_info ({exc})') from None
    if not (np.isfinite(K).all() and np.isfinite(T).all()) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise GraspError('no_perception: camera_info has non-finite or non-positive focal '
                         'lengths')
    w, h = camera_info.get('width'), camera_info.get('height')
    if w is not None and h is not None and (int(h), int(w)) != tuple(shape):
        raise GraspError(f'no_perception: image is {shape[1]}x{shape[0]} but camera_info says '
                         f'{w}x{h}')
    return K, T


def backproject(rows: np.ndarray, cols: np.ndarray, depth: np.ndarray, K: np.ndarray,
                T_world_camera: np.ndarray) -> np.ndarray:
    """World points (N, 3) of pixels ``(rows, cols)``; pixels without valid depth dropped.

    ``depth`` is metres along the optical axis (OpenCV camera frame: x right, y down,
    z forward).
    """
    z = depth[rows, cols].astype(float)
    ok = np.isfinite(z) & (z > 0)
    u, v, z = cols[ok].astype(float), rows[ok].astype(float), z[ok]
    cam = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], axis=1)
    return cam @ T_world_camera[:3, :3].T + T_world_camera[:3, 3]


def table_height(mask: np.ndarray, depth: np.ndarray, K: np.ndarray, T: np.ndarray,
                 inner: int = 6, outer: int = 25) -> float | None:
    """Median height of a ring of pixels ``inner..outer`` px around ``mask``, or None.

    The ring may catch a neighbouring object; the lower half of the ring's heights is
    used so that the table wins whenever it fills at least half of the ring.
    """
    m8 = mask.astype(np.uint8)
    big = cv2.dilate(m8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * outer + 1,) * 2))
    small = cv2.dilate(m8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * inner + 1,) * 2))
    rows, cols = np.nonzero(big & ~small.astype(bool))
    pts = backproject(rows, cols, depth, K, T)
    if len(pts) < 20:
        return None
    zs = np.sort(pts[:, 2])
    return float(np.median(zs[: max(10, len(zs) // 2)]))


def plan_grasp(mask: np.ndarray, depth: np.ndarray, camera_info: dict,
               max_opening: float = 0.08, clearance: float = 0.012,
               min_tcp_height: float = 0.006, grasp_depth: float = 0.012,
               approach_height: float = 0.08, slab: float = 0.012, erode_px: int = 2,
               table_z: float | None = None, avoid=()) -> GraspPose:
    """Grasp an object seen as ``mask`` in ``depth``.

    Parameters
    ----------
    mask : (H, W) bool array
    depth : (H, W) float array
        Metres along the optical axis; NaN or 0 where unknown.
    camera_info : dict
        ``K`` (3x3), ``T_world_camera`` (4x4, OpenCV camera frame), ``width``, ``height``.
    max_opening : float
        Widest gripper opening, m.
    clearance : float
        Free space each side between a pad and the object when opened, m.
    min_tcp_height : float
        Lowest tool-site height above the table (the pads reach a few mm below it).
    grasp_depth : float
        How far below the object's top the tool site goes (capped at half the height).
    approach_height : float
        Height of the pre-grasp pose above the grasp, m.
    slab : float
        Half-width of the band along the principal axis used to measure the local
        width and height under the fingers, m.
    erode_px : int
        Mask erosion before back-projection.
    table_z : float or None
        Table height to fall back on when the ring around the mask has no valid depth.
    avoid : sequence of (xy, yaw)
        Grasps that already failed on this object (world x-y of the grasp point, closing
        yaw): a grasp within 12 mm and 20 degrees of one of them is not chosen again; the
        next part the fingers fit around (another point or direction) is taken instead.

    Raises
    ------
    GraspError
        ``'no_perception: ...'`` for missing or inconsistent input, ``'ungraspable: ...'``
        when the object is wider than the gripper opens or too flat to see.
    """
    if mask is None or depth is None:
        raise GraspError('no_perception: a mask and a depth image are both required')
    mask = np.asarray(mask).astype(bool)
    depth = np.asarray(depth, dtype=np.float32)
    if mask.ndim != 2 or mask.shape != depth.shape[:2]:
        raise GraspError(f'no_perception: mask {mask.shape} and depth {depth.shape} differ')
    K, T = validate_camera_info(camera_info, mask.shape)
    if not mask.any():
        raise GraspError('no_perception: the mask is empty')
    core = mask
    if erode_px > 0:
        eroded = cv2.erode(mask.astype(np.uint8), np.ones((2 * erode_px + 1,) * 2, np.uint8))
        if eroded.sum() >= 10:
            core = eroded.astype(bool)
    rows, cols = np.nonzero(core)
    pts = backproject(rows, cols, depth, K, T)
    if len(pts) < 5:
        raise GraspError(f'no_perception: only {len(pts)} mask pixels have valid depth')
    z_table = table_height(mask, depth, K, T)
    if z_table is None:
        if table_z is None:
            raise GraspError('no_perception: no valid depth around the mask to find the table')
        z_table = float(table_z)
    # Keep what stands above the table: the mask may include table pixels at its rim.
    above = pts[pts[:, 2] > z_table + 0.002]
    if len(above) < 5:
        raise GraspError(f'ungraspable: object is less than 2 mm above the table '
                         f'({len(pts)} points)')
    # Shape (axis, extent, profile) from the whole mask: erosion would erase thin parts
    # such as a screwdriver's shaft. Widths under the fingers come from the eroded core.
    full = backproject(*np.nonzero(mask), depth, K, T)
    full = full[full[:, 2] > z_table + 0.002]
    if len(full) < len(above):
        full = above
    xy = full[:, :2]
    cov = np.cov((xy - xy.mean(axis=0)).T) if len(xy) > 2 else np.eye(2)
    evals, evecs = np.linalg.eigh(cov)
    major = evecs[:, 1]
    minor = np.array([-major[1], major[0]])
    # Grasp near the centre of mass: the height-weighted centroid of the footprint (a
    # screwdriver's fat handle outweighs its thin shaft).
    weights = full[:, 2] - z_table
    centre = (xy * weights[:, None]).sum(axis=0) / weights.sum()
    along_full = (xy - centre) @ major
    a_lo, a_hi = (float(v) for v in np.percentile(along_full, [0.2, 99.8]))
    # Slide the grasp along the axis to where the pads meet a uniform cross-section (a
    # bolt's shaft, not the edge of its head), staying near the centre of mass.
    shift = _uniform_section(along_full, (xy - centre) @ minor, full[:, 2], slab, a_lo, a_hi)
    centre = centre + major * shift
    a_lo, a_hi = a_lo - shift, a_hi - shift
    along = (above[:, :2] - centre) @ major
    across = (above[:, :2] - centre) @ minor
    # Width and height are measured under the fingers only.
    local = np.abs(along) <= slab
    if local.sum() < 5:
        local = np.argsort(np.abs(along))[:max(5, len(along) // 10)]
    lo, hi = np.percentile(across[local], [1, 99])
    width = float(hi - lo)
    mid = centre + minor * (lo + hi) / 2
    top = float(np.percentile(above[local, 2], 95))
    height = top - z_table
    # Give back what the erosion and the percentiles trimmed: (erode_px + 1) pixels a side
    # across, half a pixel a side along (the extent comes from the whole mask).
    px = float(np.median(depth[rows, cols]) / K[0, 0])
    width += 2 * (max(erode_px, 0) + 1) * px
    a_lo, a_hi = a_lo - px / 2, a_hi + px / 2
    length = a_hi - a_lo
    avoid = [(np.asarray(a[0], float)[:2], float(a[1])) for a in avoid]
    again = _repeats(centre + minor * (lo + hi) / 2, minor, avoid)
    if width + 0.004 > max_opening or again:
        # Too wide across the principal axis here (open pliers, an L-shaped key, a mug's
        # body), or this grasp already failed: look for the narrow part nearest the centre
        # of mass, in any direction.
        found = _narrow_section(above, centre, slab, max_opening - 0.004 - 2 * (
            max(erode_px, 0) + 1) * px, avoid=avoid)
        if found is None and again:
            raise GraspError('grasp_failed: no other grasp on this object than the ones that '
                             f'failed ({len(avoid)})')
        if found is None:
            raise GraspError(f'ungraspable: object is {width * 100:.1f} cm across under the '
                             f'fingers, the gripper opens {max_opening * 100:.1f} cm, and no '
                             'narrower part was found')
        centre, major = found
        minor = np.array([-major[1], major[0]])
        along_full = (xy - centre) @ major
        a_lo, a_hi = (float(v) for v in np.percentile(along_full, [0.2, 99.8]))
        a_lo, a_hi = a_lo - px / 2, a_hi + px / 2
        along = (above[:, :2] - centre) @ major
        across = (above[:, :2] - centre) @ minor
        local = np.abs(along) <= slab
        lo, hi = np.percentile(across[local], [1, 99])
        width = float(hi - lo) + 2 * (max(erode_px, 0) + 1) * px
        mid = centre + minor * (lo + hi) / 2
        top = float(np.percentile(above[local, 2], 95))
        height = top - z_table
        length = a_hi - a_lo
    opening = float(min(max_opening, width + 2 * clearance))
    z = max(z_table + min_tcp_height, top - min(grasp_depth, height / 2))
    yaw = float(np.arctan2(minor[1], minor[0]))
    # Parallel jaws are symmetric: keep yaw in (-pi/2, pi/2].
    if yaw <= -np.pi / 2:
        yaw += np.pi
    elif yaw > np.pi / 2:
        yaw -= np.pi
    position = np.array([mid[0], mid[1], z])
    # The outline grows by half a pixel a side: pixel centres lie inside the object's edge.
    hull = cv2.convexHull(xy.astype(np.float32)).reshape(-1, 2).astype(float) - mid
    hull += hull / np.maximum(np.linalg.norm(hull, axis=1, keepdims=True), 1e-9) * px / 2
    return GraspPose(position, yaw, opening, z + approach_height, width, length, height,
                     z_table, int(len(pts)), major.copy(), (a_lo, a_hi), hull)


def _repeats(xy: np.ndarray, closing: np.ndarray, avoid, dist: float = 0.012,
             angle: float = np.radians(20)) -> bool:
    """Whether a grasp at ``xy`` closing along ``closing`` is one of the ``avoid`` ones."""
    for axy, ayaw in avoid:
        turn = abs((np.arctan2(closing[1], closing[0]) - ayaw + np.pi / 2) % np.pi - np.pi / 2)
        if np.linalg.norm(xy - axy) < dist and turn < angle:
            return True
    return False


def _narrow_section(points: np.ndarray, com: np.ndarray, half: float, max_width: float,
                    angles: int = 12, positions: int = 80, min_points: int = 8, avoid=()):
    """Where and in which direction the fingers fit: ``(centre, axis)`` or ``None``.

    Candidates are finger axes every ``180 / angles`` degrees through up to ``positions``
    points of the object; a candidate's width is the extent, across the axis, of the points
    within ``half`` of it along the axis (what lies between the pads). Of those narrower
    than ``max_width`` and about as wide at both pad edges, and not one of the ``avoid``
    grasps (see :func:`plan_grasp`), the one closest to the centre of mass ``com`` wins (a
    balanced lift).
    """
    xy = points[:, :2]
    stride = max(1, len(xy) // positions)
    cands = xy[::stride]
    best, best_d = None, np.inf
    for theta in np.arange(angles) * np.pi / angles:
        axis = np.array([np.cos(theta), np.sin(theta)])
        normal = np.array([-axis[1], axis[0]])
        a = xy @ axis
        n = xy @ normal
        for q in cands:
            sel = np.abs(a - q @ axis) <= half
            if sel.sum() < min_points:
                continue
            lo, hi = np.percentile(n[sel], [1, 99])
            if hi - lo > max_width:
                continue
            # the pads need faces that run along them: the width must not change across the
            # pads (a box's corner seen diagonally narrows to a point and slips out)
            side = a[sel] - q @ axis
            halves = [n[sel][side < 0], n[sel][side >= 0]]
            if min(len(h) for h in halves) < 3:
                continue
            w1, w2 = (float(np.ptp(h)) for h in halves)
            if abs(w1 - w2) > 0.1 * max(w1, w2) + 0.003:
                continue
            d = float(np.linalg.norm(q - com))
            if d < best_d:
                # centre the pads on the section
                pads = q + normal * ((lo + hi) / 2 - q @ normal)
                if avoid and _repeats(pads, normal, avoid):
                    continue
                best_d = d
                best = (pads, axis)
    return best


def _uniform_section(along: np.ndarray, across: np.ndarray, z: np.ndarray, half: float,
                     lo: float, hi: float, step: float = 0.002,
                     centre_weight: float = 0.25) -> float:
    """Offset along the axis whose +-``half`` window has the most uniform width and height.

    Score = (width range + height range in the window) + ``centre_weight`` * |offset|;
    windows must lie on the object. Returns 0 for objects shorter than the window.
    """
    if hi - lo <= 2 * half + step:
        return 0.0
    edges = np.arange(lo, hi + step, step)
    idx = np.digitize(along, edges)
    width = np.full(len(edges) + 1, np.nan)
    top = np.full(len(edges) + 1, np.nan)
    for k in np.unique(idx):
        sel = idx == k
        if sel.sum() >= 3:
            width[k] = np.ptp(across[sel])
            top[k] = np.percentile(z[sel], 90)
    best, best_score = 0.0, np.inf
    for c in np.arange(lo + half, hi - half + 1e-9, step):
        win = (edges >= c - half) & (edges <= c + half)
        ks = np.nonzero(win)[0] + 1
        w, t = width[ks], top[ks]
        if np.isnan(w).mean() > 0.3:
            continue
        score = np.nanmax(w) - np.nanmin(w) + np.nanmax(t) - np.nanmin(t) + centre_weight * abs(c)
        if score < best_score:
            best, best_score = float(c), score
    return best


def split_mask(mask: np.ndarray, depth: np.ndarray, camera_info: dict,
               min_height: float = 0.003, min_fraction: float = 0.1,
               min_pixels: int = 30) -> list[np.ndarray]:
    """Split a mask into the separate things standing on the table inside it.

    A proposer may merge two neighbouring objects into one region; in depth they are two
    blobs above the table with table between them. Returns the blobs (largest first,
    each at least ``min_fraction`` of the largest); one element when the mask is one
    object, or the mask itself when depth cannot tell.
    """
    mask = np.asarray(mask, bool)
    depth = np.asarray(depth, np.float32)
    K, T = validate_camera_info(camera_info, mask.shape)
    z_table = table_height(mask, depth, K, T)
    if z_table is None:
        return [mask]
    rows, cols = np.nonzero(mask)
    z = np.full(len(rows), -np.inf)
    d = depth[rows, cols]
    ok = np.isfinite(d) & (d > 0)
    z[ok] = backproject(rows[ok], cols[ok], depth, K, T)[:, 2]
    high = np.zeros(mask.shape, np.uint8)
    high[rows, cols] = z > z_table + min_height
    # Open by one pixel so that a blurred seam of table does not join two blobs.
    high = cv2.morphologyEx(high, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(high, connectivity=8)
    if n <= 2:
        return [mask]
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1
    largest = stats[order[0], cv2.CC_STAT_AREA]
    floor = max(min_pixels, min_fraction * largest)
    keep = [k for k in order if stats[k, cv2.CC_STAT_AREA] >= floor]
    if len(keep) <= 1:
        return [mask]
    grow = np.ones((5, 5), np.uint8)
    return [cv2.dilate((labels == k).astype(np.uint8), grow).astype(bool) & mask for k in keep]


def relocate(depth: np.ndarray, camera_info: dict, near_xy, radius: float = 0.08,
             table_z: float | None = None, min_height: float = 0.004,
             min_pixels: int = 30) -> np.ndarray | None:
    """Find an object again after it moved: the blob standing on the table nearest ``near_xy``.

    Returns
    -------
    (H, W) bool array or None
        The nearest blob's mask (see :func:`relocate_all`), or None when nothing stands
        within ``radius``.
    """
    blobs = relocate_all(depth, camera_info, near_xy, radius, table_z, min_height, min_pixels)
    return blobs[0] if blobs else None


def relocate_all(depth: np.ndarray, camera_info: dict, near_xy, radius: float = 0.08,
                 table_z: float | None = None, min_height: float = 0.004,
                 min_pixels: int = 30, reach: float = 0.15) -> list[np.ndarray]:
    """All blobs standing on the table whose centroid lies within ``radius`` of ``near_xy``.

    Everything more than ``min_height`` above the table within ``radius + reach`` is split
    into connected blobs (so that a long object reaching in from further away is seen
    whole); the list is ordered by centroid distance.
    """
    depth = np.asarray(depth, np.float32)
    K, T = validate_camera_info(camera_info, depth.shape[:2])
    h, w = depth.shape[:2]
    rows, cols = np.mgrid[0:h, 0:w]
    pts = backproject(rows.ravel(), cols.ravel(), np.nan_to_num(depth, nan=0.0), K, T)
    valid = np.isfinite(depth.ravel()) & (depth.ravel() > 0)
    world = np.full((h * w, 3), np.nan)
    world[valid] = pts
    world = world.reshape(h, w, 3)
    d = np.hypot(world[..., 0] - near_xy[0], world[..., 1] - near_xy[1])
    region = d <= radius + reach
    if table_z is None:
        ring = (d <= radius) & ~(d <= radius * 0.6)
        zs = world[..., 2][ring & np.isfinite(world[..., 2])]
        if zs.size < 20:
            return []
        table_z = float(np.median(np.sort(zs)[: max(10, zs.size // 2)]))
    cand = (region & (world[..., 2] > table_z + min_height)).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
    found = []
    for k in range(1, n):
        if stats[k, cv2.CC_STAT_AREA] < min_pixels:
            continue
        blob = labels == k
        c = np.nanmean(world[blob][:, :2], axis=0)
        dist = float(np.hypot(*(c - np.asarray(near_xy[:2]))))
        if dist <= radius:
            found.append((dist, k, blob))
    return [blob for _, _, blob in sorted(found, key=lambda f: f[:2])]
