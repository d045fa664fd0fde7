"""Region proposers: contract, real one-object frames, composites, mixed cameras, bad input."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone

from sorting_cell.images import load_image
from sorting_cell.regions import PROPOSERS, Proposer, Region, make_proposer
from sorting_cell.regions.background import BackgroundProposer
from sorting_cell.regions.composites import condition_frames, make_composite
from sorting_cell.regions.masks import box_iou, regions_from_strength
from sorting_cell.regions.saliency import SaliencyProposer

# Boxes drawn by hand on a 40-pixel grid (x0, y0, x1, y1), one or two frames per
# condition, chosen hard: black keys on dark wood and on metal, a shiny screw on metal,
# a screw cut by the frame edge, a white pen on light wood.
HAND_BOXES = {
    (1, 'clamp/21'): (143, 78, 448, 448),
    (1, 'usb/32'): (370, 196, 445, 340),
    (2, 'screw/13'): (0, 148, 82, 265),
    (2, 'pen/24'): (303, 168, 522, 470),
    (3, 'allen/22'): (74, 152, 285, 390),
    (3, 'clamp/33'): (133, 76, 442, 478),
    (4, 'allen/13'): (250, 200, 603, 395),
    (4, 'screw/31'): (224, 136, 244, 255),
    (5, 'screw/22'): (192, 90, 280, 297),
    (5, 'usb/14'): (275, 112, 362, 243),
}


@functools.lru_cache(maxsize=8)
def _frames(root: str, condition: int) -> tuple:
    return tuple((p, load_image(p)) for p in condition_frames(condition, root))


def _object_id(path) -> str:
    return f'{path.parent.name}/{path.name[0]}'


def _check_regions(regions: list[Region], shape) -> None:
    h, w = shape[:2]
    for r in regions:
        x0, y0, x1, y1 = r.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert r.mask.dtype == bool and r.mask.shape == (y1 - y0, x1 - x0)
        assert r.mask.any()
        assert r.crop.dtype == np.uint8 and r.crop.ndim == 3 and r.crop.size > 0
        assert 0.0 <= r.score <= 1.0


# -- contract -------------------------------------------------------------------------
def test_registry_builds_every_listed_proposer():
    for name in PROPOSERS:
        assert isinstance(make_proposer(name), Proposer)
    assert isinstance(make_proposer('saliency'), SaliencyProposer)
    p = BackgroundProposer(low=5.0)
    assert make_proposer(p) is p
    with pytest.raises(ValueError, match='unknown proposer'):
        make_proposer('grabcut-please')


@pytest.mark.parametrize('name', ['background', 'saliency'])
def test_estimator_contract(name, tools_root):
    p = make_proposer(name)
    params = p.get_params()
    q = clone(p)
    assert q.get_params() == params
    assert not [k for k in vars(q) if k.endswith('_')], 'unfitted clone has learned state'
    frames = [f for _, f in _frames(str(tools_root), 2)[::16]]
    assert p.fit(frames) is p
    regions = p.propose(frames[0])
    assert regions, 'nothing found on a real one-object frame'
    _check_regions(regions, frames[0].shape)
    keys = [r.score * r.area for r in regions]
    assert keys == sorted(keys, reverse=True), 'regions must come best first'


def test_background_requires_fit():
    with pytest.raises(RuntimeError, match='not fitted'):
        BackgroundProposer().propose(np.zeros((48, 64, 3), np.uint8))


def test_bad_parameters_are_reported():
    with pytest.raises(ValueError, match='resolution'):
        BackgroundProposer(resolution=0).fit(None)
    with pytest.raises(ValueError, match='fallback'):
        BackgroundProposer(fallback='background').fit(None)


def test_thresholding_and_fragment_merging_on_a_drawn_map():
    """Worked by hand: what is kept, what merges, what stays apart (gap 16 px)."""
    strength = np.zeros((200, 300), np.float32)
    strength[50:150, 20:80] = 30     # A: a tool
    strength[50:150, 92:150] = 30    # B: another tool 12 px from A -> stays apart
    strength[60:70, 162:170] = 30    # C: a sliver 12 px from B, 1/70 of it -> part of B
    strength[10:30, 200:260] = 10    # D: weak evidence only (low 8 < 10 < high 16) -> noise
    strength[150:190, 220:290] = 30  # E: a third tool
    frame = np.zeros((200, 300, 3), np.uint8)
    regions = regions_from_strength(frame, strength, 8.0, 16.0, min_area=20, merge_gap=16)
    boxes = sorted(r.box for r in regions)
    assert boxes == [(20, 50, 80, 150), (92, 50, 170, 150), (220, 150, 290, 190)]
    merged = next(r for r in regions if r.box[0] == 92)
    # The 3x3 opening rounds each rectangle's four corners.
    assert 100 * 58 + 10 * 8 - 16 <= merged.area <= 100 * 58 + 10 * 8
    # Upsampled strength maps give frame-sized boxes and masks.
    big = np.zeros((400, 600, 3), np.uint8)
    (r2,) = [r for r in regions_from_strength(big, strength, 8.0, 16.0, min_area=80,
                                              merge_gap=16) if r.box[0] < 100]
    assert r2.box == (40, 100, 160, 300) and r2.mask.shape == (200, 120)


# -- one-object frames of the five conditions -----------------------------------------------
@pytest.mark.parametrize('key', sorted(HAND_BOXES))
def test_one_object_frame_gives_one_dominant_region(key, tools_root):
    condition, name = key
    frames = _frames(str(tools_root), condition)
    target = next(f for p, f in frames if f'{p.parent.name}/{p.stem}' == name)
    # The object of the tested frame is kept out of the background fit.
    fit = [f for p, f in frames[::3] if _object_id(p) != name[:-1]]
    proposer = BackgroundProposer().fit(fit)
    regions = proposer.propose(target)
    assert regions
    main = proposer.propose_main(target)
    assert main.extra.get('method') == 'background', main.extra
    assert box_iou(main.box, HAND_BOXES[key]) >= 0.6, (main.box, HAND_BOXES[key])
    areas = sorted((r.area for r in regions), reverse=True) + [0]
    assert areas[0] >= 2 * areas[1], f'no dominant region: areas {areas[:-1]}'


def test_saliency_finds_objects_on_plain_wood(tools_root):
    """The single-frame method is good on plain tables (conditions 1-2)."""
    sal = SaliencyProposer().fit(None)
    for key in [(1, 'clamp/21'), (1, 'usb/32'), (2, 'pen/24')]:
        frame = next(f for p, f in _frames(str(tools_root), key[0])
                     if f'{p.parent.name}/{p.stem}' == key[1])
        main = sal.propose_main(frame)
        assert box_iou(main.box, HAND_BOXES[key]) >= 0.5, (key, main.box)


# -- composites ------------------------------------------------------------------------
def _match(pred, gt):
    iou = np.array([[box_iou(g, p) for p in pred] for g in gt]) if pred else np.zeros((len(gt), 1))
    rows, cols = linear_sum_assignment(-iou)
    best = np.zeros(len(gt))
    best[rows] = iou[rows, cols]
    return best


@pytest.mark.parametrize('condition', [2, 4])
def test_composites_recover_their_boxes(condition, tools_root):
    frames = _frames(str(tools_root), condition)
    ids = sorted({_object_id(p) for p, _ in frames})
    # The scene's table comes from the even objects' frames, the model from the odd ones.
    fit = [f for p, f in frames[::2] if _object_id(p) in set(ids[1::2])]
    proposer = BackgroundProposer().fit(fit)
    ious = []
    for seed in range(2):
        comp = make_composite(seed, 5, condition, root=tools_root)
        regions = proposer.propose(comp.frame)
        assert all(r.extra.get('method') == 'background' for r in regions)
        ious += list(_match([r.box for r in regions], comp.boxes))
    ious = np.array(ious)
    assert np.mean(ious >= 0.5) >= 0.8, ious
    assert np.median(ious) >= 0.75, ious


def test_composite_ground_truth_is_consistent(tools_root):
    comp = make_composite(np.random.default_rng(3), 28, 1, root=tools_root)
    frame, background, boxes, masks, labels = comp
    assert frame.shape == background.shape == (480, 640, 3) and frame.dtype == np.uint8
    assert len(boxes) == len(masks) == len(labels) == 28
    assert set(labels) == {'allen', 'clamp', 'driver', 'flat', 'pen', 'screw', 'usb'}
    assert comp.scale < 1.0, '28 full-size tools cannot fit on 640x480 unshrunk'
    total = np.zeros(frame.shape[:2], int)
    for (x0, y0, x1, y1), m in zip(boxes, masks):
        ys, xs = np.nonzero(m)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
        total += m
    assert total.max() == 1, 'pasted objects overlap'
    big = make_composite(5, 3, 5, root=tools_root, canvas_size=(1024, 768))
    assert big.frame.shape == (768, 1024, 3)
    with pytest.raises(ValueError, match='condition'):
        make_composite(0, 2, 7, root=tools_root)
    with pytest.raises(ValueError, match='n_objects'):
        make_composite(0, 0, 1, root=tools_root)


# -- several cameras in one fit ----------------------------------------------------------
def test_mixed_conditions_pick_the_right_background(tools_root):
    rng = np.random.default_rng(0)
    fit, cond, held = [], [], []
    for c in range(1, 6):
        frames = _frames(str(tools_root), c)
        order = rng.permutation(len(frames))
        fit += [frames[i][1] for i in order[:8]]
        cond += [c] * 8
        held += [(c, frames[i][1]) for i in order[8:10]]
    perm = rng.permutation(len(fit))
    proposer = BackgroundProposer().fit([fit[i] for i in perm])
    cond = np.array(cond)[perm]
    labels = proposer.labels_
    # Condition 4 was shot in sessions under different light: a session with fewer than
    # min_group frames in the sample is left to the fallback, the rest must be modelled.
    assert np.mean(labels >= 0) >= 0.9, labels
    assert len(proposer.backgrounds_) >= 5
    for g in range(len(proposer.backgrounds_)):
        assert len(set(cond[labels == g])) == 1, 'one background mixes two conditions'
    matched = 0
    for c, frame in held:
        k, dist, _ = proposer.match(frame)
        if k < 0:
            continue
        matched += 1
        assert set(cond[labels == k]) == {c}, (c, k, dist)
        assert proposer.propose_main(frame).extra.get('method') == 'background'
    assert matched >= 8, f'only {matched}/10 held-out frames found their background'


# -- degenerate input -------------------------------------------------------------------
def test_blank_frames_give_no_regions():
    blank = np.full((480, 640, 3), 128, np.uint8)
    assert SaliencyProposer().fit(None).propose(blank) == []
    assert BackgroundProposer().fit(None).propose(blank) == []
    assert BackgroundProposer().fit([blank]).propose(blank) == []
    main = BackgroundProposer().fit([blank]).propose_main(blank)
    assert main.extra.get('fallback') == 'whole frame'


def test_other_frame_size_falls_back_to_single_frame(tools_root):
    frames = [f for _, f in _frames(str(tools_root), 1)[::12]]
    proposer = BackgroundProposer().fit(frames)
    assert len(proposer.backgrounds_) == 1
    small = np.ascontiguousarray(frames[0][::2, ::2])
    regions = proposer.propose(small)
    assert regions, 'the single-frame fallback should still find the object'
    assert 'fallback' in regions[0].extra
    _check_regions(regions, small.shape)


def test_unmatched_camera_falls_back(tools_root):
    proposer = BackgroundProposer().fit([f for _, f in _frames(str(tools_root), 1)[::12]])
    frame = _frames(str(tools_root), 5)[0][1]
    assert proposer.match(frame)[0] == -1
    regions = proposer.propose(frame)
    assert all('fallback' in r.extra for r in regions)


def test_fit_rejects_unreadable_frames():
    with pytest.raises(Exception, match='fit frame 1'):
        BackgroundProposer().fit([np.zeros((8, 8, 3), np.uint8), np.zeros((2, 2, 2, 2))])
