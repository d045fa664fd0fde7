"""Transfer-learning bootstrapping: its rules (the confirmed set only grows), hand-worked
helpers, determinism, bad input, and improvement over a weak boot feature on real digits."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from skimage.feature import hog

from sorting_cell.bootstrap import TransferBootstrap, difference_rate, reliable_mask
from sorting_cell.clustering.metrics import acc, nmi
from sorting_cell.multiview import make_multiview

FAST = dict(epochs=40, hidden=64, progress=False, n_threads=1)


@pytest.fixture(scope='module')
def digits():
    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    H = np.array([hog(x.reshape(8, 8), orientations=4, pixels_per_cell=(4, 4),
                      cells_per_block=(1, 1)) for x in X])
    return H, X, y


@pytest.fixture(scope='module')
def fitted(digits):
    H, X, _ = digits
    return TransferBootstrap(10, random_state=0, **FAST).fit([H, X])


def test_difference_rate_hand_worked():
    assert difference_rate([0.5, 0.4, 0.25]) == pytest.approx(0.5)
    assert difference_rate([0.7, 0.7]) == 0.0
    with pytest.raises(ValueError, match='finite'):
        difference_rate([0.5, np.nan])
    with pytest.raises(ValueError, match='positive maximum'):
        difference_rate([0.0, 0.0])


def test_reliable_mask_is_per_cluster_and_nearest_first():
    F = np.array([[0.], [0.1], [5.], [0.2], [10.], [10.1], [13.]])
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    # cluster 0: centroid 1.325 -> 0.2, 0.1 (2 of 4); cluster 1: 11.03 -> 10.1, 10 (2 of 3)
    assert np.nonzero(reliable_mask(F, labels, 0.5))[0].tolist() == [1, 3, 4, 5]
    assert reliable_mask(F, labels, 0.01).sum() == 2  # at least one per cluster


def test_confirmed_set_only_grows_and_keeps_labels(fitted):
    masks = [r['confirmed'] for r in fitted.rounds_]
    labels = [r['labels'] for r in fitted.rounds_]
    for (m0, l0), (m1, l1) in zip(zip(masks, labels), zip(masks[1:], labels[1:])):
        assert (m1 | m0).sum() == m1.sum()          # nothing leaves the set
        assert np.array_equal(l1[m0], l0[m0])       # confirmed labels never change
    sizes = [r['n_confirmed'] for r in fitted.rounds_]
    assert sizes == sorted(sizes) and sizes[0] >= 40  # delta=0.2 of 400 per cluster
    assert fitted.confirmed_.all() or fitted.n_rounds_ == fitted.max_rounds
    assert np.array_equal(fitted.labels_, labels[-1])


def test_bootstrapping_improves_on_a_weak_boot_feature(fitted, digits):
    _, _, y = digits
    boot = fitted.boot_labels_
    assert nmi(y, fitted.labels_) > nmi(y, boot) + 0.05
    assert acc(y, fitted.labels_) > acc(y, boot) + 0.05


def test_same_seed_same_run(fitted, digits):
    H, X, _ = digits
    again = clone(fitted).fit([H, X])
    assert np.array_equal(again.labels_, fitted.labels_)
    assert np.array_equal(again.embedding_, fitted.embedding_)


def test_gmm_and_pca_boot(digits):
    H, X, y = digits
    est = make_multiview('bootstrap', 10, random_state=0, clusterer='gmm', boot_pca=10,
                         max_rounds=2, **FAST).fit([X, X])
    assert est.n_rounds_ == 2 and set(est.labels_) <= set(range(10))


@pytest.mark.parametrize('kw, match', [
    (dict(delta=0), r'delta \(initial'), (dict(delta_step=2), 'delta_step'),
    (dict(clusterer='dbscan'), 'clusterer'), (dict(max_rounds=0), 'max_rounds'),
    (dict(boot_normalize='minmax'), 'boot_normalize'), (dict(head_input='boot'), 'head_input'),
])
def test_bad_parameters(kw, match, digits):
    H, X, _ = digits
    with pytest.raises(ValueError, match=match):
        TransferBootstrap(3, **{**FAST, **kw}).fit([H, X])


def test_bad_input(digits):
    H, X, _ = digits
    with pytest.raises(ValueError, match='at least 2 view'):
        TransferBootstrap(3, **FAST).fit(H)
    bad = X.copy()
    bad[7, 0] = np.inf
    with pytest.raises(ValueError, match=r'pretrained view 1.*NaN or infinity.*\[7\]'):
        TransferBootstrap(3, **FAST).fit([H, bad])
    with pytest.raises(ValueError, match='boot feature.*constant'):
        TransferBootstrap(3, **FAST).fit([np.zeros_like(H), X])
    with pytest.raises(ValueError, match='larger than the number of samples'):
        TransferBootstrap(500, **FAST).fit([H, X])


def test_head_on_boot_and_pretrained_keeps_a_strong_boot_feature(digits):
    # A strong boot feature (HOG) over a weaker "pretrained" view (the pixels, coarsened to
    # 2x2 blocks): a head that also sees the boot feature keeps what the boot clustering had.
    H, X, y = digits
    weak = X.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(len(X), -1)
    both = TransferBootstrap(10, random_state=0, **FAST).fit([H, weak])
    assert nmi(y, both.labels_) >= nmi(y, both.boot_labels_) - 0.02
