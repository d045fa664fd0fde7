"""Describe, then assign: the label-free decisions and the one place methods are looked up."""
import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score as nmi

from sorting_cell.datasets.tools import load_tools
from sorting_cell.perception import Decision, Describer, Description, assign
from sorting_cell.perception.evidence import camera_decisions, geometry_decision
from sorting_cell.pipeline import SortingPipeline


def _centred_shapes(n_per_kind=8, side=96, seed=0):
    """Bright discs and squares, always at the centre of one dark stage (a turntable)."""
    import cv2
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for kind in range(2):
        for _ in range(n_per_kind):
            im = np.full((side, side, 3), 20, np.uint8)
            r = int(rng.integers(22, 30))
            c = tuple(int(v) for v in rng.integers(150, 255, 3))
            if kind == 0:
                cv2.circle(im, (side // 2, side // 2), r, c, -1)
            else:
                cv2.rectangle(im, (side // 2 - r, side // 2 - r), (side // 2 + r, side // 2 + r),
                              c, -1)
            images.append(im)
            labels.append(kind)
    return images, labels


def test_object_always_in_the_same_place_is_described_whole():
    images, _ = _centred_shapes()
    camera, objects, regions = camera_decisions(images)
    assert camera.value                               # one stage, one background
    assert not objects.value and 'same place' in objects.reason
    assert objects.evidence['coverage_max'] >= 0.5 and regions == [None] * len(images)


def test_unrelated_backgrounds_are_not_one_camera_and_stop_early():
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(40)]
    camera, objects, _ = camera_decisions(images)
    assert not camera.value and not objects.value
    assert camera.evidence['explained'] == 0.0


def test_mixed_sizes_and_too_few_frames_say_why():
    a, b = np.zeros((40, 50, 3), np.uint8), np.zeros((41, 50, 3), np.uint8)
    camera, _, _ = camera_decisions([a, b, a])
    assert not camera.value and 'pixel sizes' in camera.reason
    camera, _, _ = camera_decisions([a, a])
    assert not camera.value and 'too few' in camera.reason


def test_one_fixed_camera_gets_objects_and_geometry(tools_root):
    paths = [t.path for t in load_tools(tools_root) if t.condition == 2][:40]
    d = Describer(features='raw').images(paths)
    assert d.decisions['fixed_camera'].value and d.decisions['objects'].value
    assert d.sizes is not None and d.outlines is not None and d.sizes.shape == (40, 2)
    assert d.decisions['geometry'].value
    assert d.decisions['geometry'].evidence['neighbour_ratio'] < 0.8


def test_default_equals_whole_image_when_the_evidence_is_not_there():
    images, _ = _centred_shapes()
    auto = SortingPipeline(n_clusters=2, features='raw').sort_images(images)
    whole = SortingPipeline(n_clusters=2, features='raw', proposer='none').sort_images(images)
    assert np.array_equal(auto.labels, whole.labels)
    assert np.array_equal(auto.features, whole.features)
    assert not auto.decisions['objects'].value and whole.decisions['objects'].forced


def test_geometry_decision_follows_the_appearance_neighbourhoods():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 10)
    appearance = np.eye(4)[y] + rng.normal(0, 0.05, (40, 4))
    shared = np.eye(4)[y] * 2 + rng.normal(0, 0.1, (40, 4))    # kinds differ in size too
    noise = rng.normal(0, 1, (40, 4))                           # sizes unrelated to kind
    assert geometry_decision(appearance, shared).value
    no = geometry_decision(appearance, noise)
    assert not no.value and no.evidence['neighbour_ratio'] > 0.8
    assert not geometry_decision(appearance, np.zeros((40, 3))).value   # all alike


def test_assign_is_the_one_place_for_methods_and_weights():
    rng = np.random.default_rng(2)
    X = np.r_[rng.normal(0, 0.1, (6, 5)) + 3, rng.normal(0, 0.1, (6, 5)) - 3]
    d = Description.of_features(X)
    assert nmi([0] * 6 + [1] * 6, assign(d, 2, normalize=None)) == 1.0
    with pytest.raises(ValueError, match=r"unknown clustering method 'kmean'.*'kmeans'"):
        assign(d, 2, method='kmean')
    with pytest.raises(ValueError, match='at least as many objects as boxes'):
        assign(d, 13)
    with pytest.raises(ValueError, match='size_weight must be finite'):
        assign(d, 2, size_weight=-1)
    with pytest.raises(ValueError, match='needs the trunk rows'):
        assign(d, 2, method='bootstrap-finetune')
    sub = d.subset([0, 1, 6, 7])
    assert len(sub) == 4 and sub.views[0].shape == (4, 5)
    assert isinstance(d.decisions['geometry'], Decision)


def test_whole_images_are_whitened_and_segmented_objects_centred(tools_root):
    images, _ = _centred_shapes()
    whole = SortingPipeline(n_clusters=2, features='raw').sort_images(images)
    assert whole.decisions['whitening'].value
    assert whole.decisions['whitening'].evidence['normalize'] == 'whitened'
    paths = [t.path for t in load_tools(tools_root) if t.condition == 2][:24]
    d = Describer(features='raw').images(paths)
    assign(d, 3)
    assert d.decisions['objects'].value and not d.decisions['whitening'].value
    given = Description.of_features(np.random.default_rng(0).normal(size=(12, 4)))
    assign(given, 2)
    decided = given.decisions['whitening']
    assert not decided.value and 'caller' in decided.reason
    forced = Description.of_features(np.random.default_rng(0).normal(size=(12, 4)))
    assign(forced, 2, normalize='whitened')
    assert 'whitening' not in forced.decisions   # asked for, not decided


def test_whitening_halves_the_spread_of_the_sets_strongest_direction():
    from sorting_cell.clustering.estimator import normalize_features
    rng = np.random.default_rng(3)
    # 200 rows of 40 positive columns; one direction (a light that varies) 20x the rest.
    light = rng.uniform(-1, 1, (200, 1)) * np.r_[np.ones(20), np.zeros(20)] * 20
    X = np.abs(5 + light + rng.normal(0, 1, (200, 40)))
    spread = (lambda Z: np.linalg.svd(Z - Z.mean(0), compute_uv=False))
    c, w = spread(normalize_features(X, 'centered')), spread(normalize_features(X, 'whitened'))
    ratio_c, ratio_w = c[0] / c[1], w[0] / w[1]
    assert ratio_c > 4 and ratio_w < 1.5 * np.sqrt(ratio_c)     # square root of the ratio
    assert np.allclose(np.linalg.norm(normalize_features(X, 'whitened'), axis=1), 1)
    assert normalize_features(X[:2], 'whitened').shape == (2, 40)   # too few rows: centred


def test_whole_images_are_seen_turned_or_as_they_are_when_asked():
    from sorting_cell.features.litert import LiteRTFeatures
    images, _ = _centred_shapes(n_per_kind=2)
    for im in images:
        im[4:20, 4:40] = 255        # a mark in one corner: the turn changes the image
    turned = Describer(proposer='none', turn=True).images(images)
    plain = Describer(proposer='none', turn=False).images(images)
    assert turned.decisions['turn'].forced and turned.turn_views is None
    assert np.allclose(turned.views[0], LiteRTFeatures('mobilenet_v2_tf2').transform(images),
                       atol=1e-5)
    assert np.allclose(plain.views[0],
                       LiteRTFeatures('mobilenet_v2_tf2', tta='none').transform(images), atol=1e-5)
    assert not np.allclose(turned.views[0], plain.views[0], atol=1e-3)
    with pytest.raises(ValueError, match="turn must be 'auto', True or False"):
        Describer(proposer='none', turn='yes').images(images)


def test_whitening_a_set_of_identical_rows_keeps_them_alike():
    from sorting_cell.clustering.estimator import normalize_features
    Z = normalize_features(np.ones((10, 8)), 'whitened')
    assert Z.shape[0] == 10 and np.allclose(Z, Z[0])
