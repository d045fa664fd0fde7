"""Views container, CC and MVEC: contracts, hand-worked cases, quality on real digits."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import KMeans

from sorting_cell.clustering.metrics import nmi
from sorting_cell.multiview import (MULTIVIEW_METHODS, ConcatClustering,
                                    MultiViewEnsembleClustering, Views, check_views,
                                    co_association, make_multiview)


@pytest.fixture(scope='module')
def digits(digits_hog):
    X, H, y = digits_hog(400)
    return [X, H], y


def blobs(seed=0, n=10):
    rng = np.random.RandomState(seed)
    a = np.r_[rng.normal(0, .1, (n, 4)), rng.normal(3, .1, (n, 4))]
    return a, np.r_[np.zeros(n), np.ones(n)]


# -- validation -------------------------------------------------------------------------
def test_check_views_accepts_one_matrix_and_lists():
    a, _ = blobs()
    assert len(check_views(a)) == 1
    assert len(check_views([a, a[:, :2]])) == 2


@pytest.mark.parametrize('bad, match', [
    (lambda a: [a, a[:-1]], 'same samples'),
    (lambda a: [a, np.where(np.arange(len(a))[:, None] == 3, np.nan, a)], r'NaN.*\[3\]'),
    (lambda a: [a, np.ones((len(a), 5))], 'constant'),
    (lambda a: [a[:, :, None]], '2-D'),
    (lambda a: [a[:, :0]], 'empty'),
    (lambda a: 'abc', 'list of per-view'),
])
def test_check_views_rejects_bad_input(bad, match):
    a, _ = blobs()
    with pytest.raises(ValueError, match=match):
        check_views(bad(a))


def test_error_names_the_view():
    a, _ = blobs()
    with pytest.raises(ValueError, match='hog'):
        check_views([a, np.zeros_like(a)], names=['cnn', 'hog'])


@pytest.mark.parametrize('method', sorted(MULTIVIEW_METHODS))
def test_every_method_rejects_more_clusters_than_samples(method):
    a, _ = blobs(n=3)
    with pytest.raises(ValueError, match='larger than the number of samples'):
        make_multiview(method, 7, random_state=0).fit([a, a ** 2])


@pytest.mark.parametrize('method', ['cc', 'mvec'])
def test_shallow_methods_reject_nan_and_constant_views(method):
    a, _ = blobs()
    b = a.copy()
    b[2, 1] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        make_multiview(method, 2).fit([a, b])
    with pytest.raises(ValueError, match='constant'):
        make_multiview(method, 2).fit([a, np.full_like(a, 0.5)])


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="unknown multi-view method 'nope'.*mvec"):
        make_multiview('nope', 2)


# -- Views container --------------------------------------------------------------------
def test_views_container_roundtrip(tmp_path):
    a, _ = blobs()
    v = Views([a, a[:, :2]], ['cnn', 'hog'])
    assert (len(v), v.n_samples, v.dims) == (2, 20, [4, 2])
    assert np.array_equal(v['hog'], a[:, :2].astype(np.float32))
    assert v.subset(np.arange(5)).n_samples == 5
    assert v.select(['hog']).names == ['hog']
    assert v.concatenate().shape == (20, 6)
    v.save(tmp_path / 'v.npz')
    w = Views.load(tmp_path / 'v.npz')
    assert w.names == v.names and all(np.array_equal(p, q) for p, q in zip(v, w))


def test_views_rejects_mismatched_rows():
    a, _ = blobs()
    with pytest.raises(ValueError, match='same samples'):
        Views([a, a[:3]])


# -- co-association ---------------------------------------------------------------------
def test_co_association_hand_worked():
    cam = co_association([[0, 0, 1], [0, 1, 1]])
    assert np.allclose(cam, [[1, .5, 0], [.5, 1, .5], [0, .5, 1]])


def test_mvec_consensus_follows_the_majority():
    # Three views; two of them separate {0,1,2} from {3,4,5}, one is noise.
    rng = np.random.RandomState(0)
    good = np.r_[rng.normal(0, .1, (3, 2)), rng.normal(5, .1, (3, 2))]
    noise = np.r_[rng.normal(0, .1, (1, 2)), rng.normal(5, .1, (4, 2)), rng.normal(0, .1, (1, 2))]
    est = MultiViewEnsembleClustering(2, normalize=None).fit([good, good + 1, noise])
    assert est.labels_.tolist() == [0, 0, 0, 1, 1, 1]
    assert est.partitions_.shape == (3, 6) and est.cam_.shape == (6, 6)


# -- estimator contract -----------------------------------------------------------------
@pytest.mark.parametrize('est', [ConcatClustering(3, random_state=0),
                                 MultiViewEnsembleClustering(3, base=['kmeans', 'agglomerative'],
                                                             random_state=0),
                                 MultiViewEnsembleClustering(3, base=KMeans(n_init=3),
                                                             random_state=0)])
def test_contract_and_determinism(est, digits):
    views, _ = digits
    assert repr(clone(est)) == repr(est)
    assert est.fit(views) is est
    first = est.labels_.copy()
    assert set(first) == {0, 1, 2}
    assert np.array_equal(clone(est).fit(views).labels_, first)


# -- quality on real data (8x8 digits shipped with scikit-learn) ------------------------
def test_cc_and_mvec_beat_the_worst_view_on_digits(digits):
    views, y = digits
    single = [nmi(y, KMeans(10, n_init=10, random_state=0).fit_predict(V)) for V in views]
    cc = nmi(y, ConcatClustering(10, random_state=0).fit_predict(views))
    mvec = nmi(y, MultiViewEnsembleClustering(10, base='kmeans', random_state=0)
               .fit_predict(views))
    assert cc > max(single) - 0.02 and cc > 0.75
    assert mvec > min(single) + 0.05 and mvec > 0.65


def test_weighted_co_association_and_agreement_weights():
    from sorting_cell.multiview.ensemble import agreement_weights

    cam = co_association([[0, 0, 1], [0, 1, 1]], weights=[3, 1])
    assert np.allclose(cam[0, 1], 0.75) and np.allclose(cam[1, 2], 0.25)
    w = agreement_weights([[0, 0, 1, 1], [0, 0, 1, 1], [0, 1, 0, 1]])
    assert w[0] == w[1] > w[2]
    with pytest.raises(ValueError, match='non-negative weight'):
        co_association([[0, 1]], weights=[-1])
    a, _ = blobs()
    est = MultiViewEnsembleClustering(2, weights='agreement').fit([a, a ** 2, a[:, :2]])
    assert est.weights_.shape == (3,)
    with pytest.raises(ValueError, match='weights must be'):
        MultiViewEnsembleClustering(2, weights='quality').fit([a, a])
