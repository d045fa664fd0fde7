"""The outline feature: invariances on drawn shapes, separation on real tools, weights."""
import cv2
import numpy as np
import pytest

from sorting_cell import SortingPipeline
from sorting_cell.datasets import load_tools
from sorting_cell.images import load_image
from sorting_cell.regions import Region, make_proposer
from sorting_cell.regions.shape import width_profile


def _region(mask: np.ndarray) -> Region:
    h, w = mask.shape
    return Region(box=(0, 0, w, h), mask=mask.astype(bool), crop=np.zeros((h, w, 3), np.uint8))


def _draw(kind: str, scale: float = 1.0, angle: float = 0.0, flip: bool = False) -> Region:
    """A screwdriver (handle block + thin shaft) or a screw (small head + thick shank)."""
    canvas = np.zeros((400, 400), np.uint8)
    s = scale
    if kind == 'driver':
        parts = [((-60, -12), (0, 12)), ((0, -3), (90, 3))]
    else:
        parts = [((-60, -10), (-50, 10)), ((-50, -5), (90, 5))]
    for (x0, y0), (x1, y1) in parts:
        if flip:
            x0, x1 = -x1, -x0
        box = cv2.boxPoints(((200 + s * (x0 + x1) / 2, 200 + s * (y0 + y1) / 2),
                             (s * (x1 - x0), s * (y1 - y0)), 0.0))
        cv2.fillPoly(canvas, [box.astype(np.int32)], 1)
    M = cv2.getRotationMatrix2D((200, 200), angle, 1.0)
    return _region(cv2.warpAffine(canvas, M, (400, 400), flags=cv2.INTER_NEAREST))


def test_profile_ignores_scale_rotation_and_mirroring():
    ref = width_profile(_draw('driver'))
    for scale, angle, flip in [(1.6, 0, False), (1.0, 37, False), (1.3, 121, True),
                               (0.8, 200, True)]:
        other = width_profile(_draw('driver', scale, angle, flip))
        assert np.abs(other - ref).mean() < 0.01, (scale, angle, flip)
    # The handle end comes first; the thin shaft is much narrower than the handle.
    assert ref[:8].mean() > 2.5 * ref[-8:].mean()


def test_profile_tells_a_screwdriver_from_a_screw_of_the_same_size():
    d = [width_profile(_draw('driver', 1.0, a)) for a in (0, 50, 95)]
    s = [width_profile(_draw('screw', 1.0, a)) for a in (10, 60, 150)]
    within = max(np.abs(a - b).mean() for grp in (d, s) for a in grp for b in grp)
    between = min(np.abs(a - b).mean() for a in d for b in s)
    assert between > 3 * within, (within, between)


def test_degenerate_masks_give_a_flat_profile_and_bad_bins_fail():
    tiny = _region(np.eye(2, dtype=bool))
    assert np.allclose(width_profile(tiny, bins=8), 1 / 8)
    with pytest.raises(ValueError, match='bins'):
        width_profile(tiny, bins=1)


def test_profiles_of_real_tools_repeat_per_object(tools_root):
    """Condition 2 (where CNN features confuse them): a short screwdriver vs a long screw."""
    images = [t for t in load_tools(tools_root) if t.condition == 2
              and t.object_id in ('driver/3', 'screw/2')]
    frames = [load_image(t.path) for t in images]
    proposer = make_proposer('background').fit(frames)
    prof = np.array([width_profile(proposer.propose_main(f)) for f in frames])
    ids = np.array([t.object_id for t in images])
    dist = np.abs(prof[:, None] - prof[None]).mean(-1)
    same = dist[(ids[:, None] == ids[None]) & ~np.eye(len(ids), dtype=bool)]
    other = dist[ids[:, None] != ids[None]]
    assert same.mean() < 0.6 * other.mean(), (same.mean(), other.mean())


def test_geometry_weights():
    rng = np.random.default_rng(0)
    X, sizes, shapes = rng.random((6, 5)), rng.random((6, 2)) * 100 + 1, rng.random((6, 32))
    pipe = SortingPipeline(n_clusters=2)
    assert pipe.geometry(X, sizes, shapes).shape == (6, 5 + 2 + 32)
    assert pipe.geometry(X).shape == (6, 5)  # unknown geometry: appearance only
    off = SortingPipeline(n_clusters=2, size_weight=0, shape_weight=0)
    assert off.geometry(X, sizes, shapes).shape == (6, 5)
    for bad in (-1.0, float('nan'), 'big'):
        with pytest.raises(ValueError, match='shape_weight'):
            SortingPipeline(n_clusters=2, shape_weight=bad).geometry(X, sizes, shapes)


def test_multiview_methods_see_the_outline_too():
    """Two kinds told apart only by their outline: every multi-view route must use it."""
    from sorting_cell.clustering.metrics import nmi

    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 12)
    views = [rng.normal(size=(24, 16)), rng.normal(size=(24, 8))]  # appearance says nothing
    ramp = np.linspace(1, 0, 32)
    shapes = np.where(y[:, None] == 0, ramp, 1 - ramp) + rng.normal(0, 0.02, (24, 32))
    sizes = np.full((24, 2), 100.0) + rng.normal(0, 1, (24, 2))
    for method in ('mvec', 'cc'):
        seen = SortingPipeline(n_clusters=2, method=method, shape_weight=3.0)
        assert nmi(y, seen.cluster_features(views, sizes, shapes)) == 1.0, method
        blind = SortingPipeline(n_clusters=2, method=method, shape_weight=0.0, size_weight=0.0)
        assert nmi(y, blind.cluster_features(views, sizes, shapes)) < 0.5, method
