"""Transfer-learning bootstrapping: its rules (the confirmed set only grows, newly confirmed
samples agree with the network), hand-worked helpers, determinism, bad input, and
improvement over a weak boot feature on real digits."""
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone

from sorting_cell.bootstrap import TransferBootstrap, difference_rate, reliable_mask
from sorting_cell.clustering.metrics import acc, nmi
from sorting_cell.perception import make_method

FAST = dict(epochs=40, hidden=64, progress=False, n_threads=1)


@pytest.fixture(scope='module')
def digits(digits_hog):
    X, H, y = digits_hog(400, orientations=4)
    return H, X, y


@pytest.fixture(scope='module')
def fitted(digits):
    H, X, _ = digits
    return TransferBootstrap(10, random_state=0, **FAST).fit([H, X])


@pytest.fixture(scope='module')
def fitted_head(fitted, digits):
    # Same seed, the paper's final labels (confirmed + predicted) instead of re-clustering.
    H, X, _ = digits
    return clone(fitted).set_params(final_labels='head').fit([H, X])


def _precision(y, labels, mask):
    """Fraction of ``labels[mask]`` right under the best one-to-one map of all labels."""
    table = np.zeros((10, 10))
    np.add.at(table, (labels, y), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    lookup = np.arange(10)
    lookup[rows] = cols
    return float((lookup[labels] == y)[mask].mean())


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
    assert np.array_equal(fitted.head_labels_, labels[-1])


def test_newly_confirmed_samples_agree_with_the_network(fitted):
    # After round 0 a sample is confirmed only with the label the previous round's network
    # (confirmed + predicted labels) gave it.
    n_new = 0
    for prev, cur in zip(fitted.rounds_, fitted.rounds_[1:]):
        new = cur['confirmed'] & ~prev['confirmed']
        assert np.array_equal(cur['labels'][new], prev['labels'][new])
        assert np.array_equal(cur['cluster'][new], prev['labels'][new])
        n_new += new.sum()
    assert n_new > 100  # the check is not vacuous


def test_final_labels_recluster_vs_head(fitted, fitted_head, digits):
    _, _, y = digits
    assert np.array_equal(fitted.labels_, fitted.cluster_labels_)
    assert np.array_equal(fitted_head.labels_, fitted_head.head_labels_)
    # final_labels only changes the last step: the rounds are the same run.
    assert np.array_equal(fitted_head.head_labels_, fitted.head_labels_)
    assert np.array_equal(fitted_head.embedding_, fitted.embedding_)
    # Re-clustering the learned features repairs wrong confirmed labels on this set.
    assert nmi(y, fitted.labels_) > nmi(y, fitted_head.labels_) + 0.02


def test_agreement_makes_confirmed_labels_more_precise(digits):
    # Raw pixels as the boot feature, HOG under the head: the set where the late rounds
    # used to confirm wrong labels (benchmarks/bootstrap.py, raw pixels on digits).
    H, X, y = digits
    runs = {a: TransferBootstrap(10, random_state=0, agreement=a, **FAST).fit([X, H])
            for a in (False, True)}
    prec = {a: _precision(y, e.head_labels_, e.confirmed_) for a, e in runs.items()}
    assert prec[True] > prec[False] + 0.02, prec
    assert prec[True] > 0.78, prec


def test_bootstrapping_improves_on_a_weak_boot_feature(fitted, digits):
    _, _, y = digits
    boot = fitted.boot_labels_
    assert nmi(y, fitted.labels_) > nmi(y, boot) + 0.15
    assert acc(y, fitted.labels_) > acc(y, boot) + 0.10


def test_same_seed_same_run(fitted, fitted_head):
    # fitted_head is a second fit with the same seed (only its last step differs).
    assert np.array_equal(fitted_head.boot_labels_, fitted.boot_labels_)
    for a, b in zip(fitted_head.rounds_, fitted.rounds_, strict=True):
        assert np.array_equal(a['labels'], b['labels'])
    assert np.array_equal(fitted_head.embedding_, fitted.embedding_)


def test_gmm_and_pca_boot(digits):
    H, X, y = digits
    est = make_method('bootstrap', 10, random_state=0).set_params(
        clusterer='gmm', boot_pca=10, max_rounds=2, **FAST).fit([X, X])
    assert est.n_rounds_ == 2 and set(est.labels_) <= set(range(10))


@pytest.mark.parametrize('kw, match', [
    (dict(delta=0), r'delta \(initial'), (dict(delta_step=2), 'delta_step'),
    (dict(clusterer='dbscan'), 'clusterer'), (dict(max_rounds=0), 'max_rounds'),
    (dict(boot_normalize='minmax'), 'boot_normalize'), (dict(head_input='boot'), 'head_input'),
    (dict(final_labels='confirmed'), 'final_labels'), (dict(head_boot_dims=0), 'head_boot_dims'),
    (dict(head_boot_dims=1.5), 'fraction of variance'),
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
