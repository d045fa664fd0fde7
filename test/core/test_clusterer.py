"""ImageClusterer: every method, the scikit-learn contract, and bad input."""
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from sorting_cell.clustering import METHODS, ImageClusterer
from sorting_cell.clustering.metrics import nmi

# Three blobs in three different directions from the origin, so that they stay apart
# after the default row L2-normalisation too (angles 0, 90 and 225 degrees).
CENTRES = np.array([[10.0, 0.0], [0.0, 10.0], [-7.0, -7.0]])
STOCHASTIC = ('kmeans', 'minibatch_kmeans', 'affinity_propagation', 'gmm', 'spectral')


@pytest.fixture(scope='module')
def blobs():
    X, y = make_blobs(n_samples=90, centers=CENTRES, cluster_std=0.6, random_state=0)
    return X, y


def _exactly_k(labels, k):
    return sorted(np.unique(labels).tolist()) == list(range(k))


@pytest.mark.filterwarnings('error::sklearn.exceptions.ConvergenceWarning')
@pytest.mark.parametrize('normalize', [None, 'l2', 'standard'])
@pytest.mark.parametrize('method', METHODS)
def test_every_method_recovers_separated_blobs(blobs, method, normalize):
    X, y = blobs
    est = ImageClusterer(n_clusters=3, method=method, normalize=normalize, random_state=0)
    labels = est.fit_predict(X)
    assert _exactly_k(labels, 3)
    assert np.array_equal(labels, est.labels_)
    assert nmi(y, labels) > 0.9, f'{method}/{normalize}: NMI {nmi(y, labels):.3f}'
    # The method itself found the blobs (not the mapping onto k rescuing a failed run).
    assert est.n_clusters_found_ == 3


def test_labels_numbered_in_order_of_first_appearance(blobs):
    X, y = blobs
    order = np.argsort(y, kind='stable')
    labels = ImageClusterer(3, normalize=None).fit_predict(X[order])
    assert labels[0] == 0
    assert labels.tolist() == sorted(labels.tolist())


def test_free_k_methods_are_mapped_onto_k(blobs):
    X, y = blobs
    # eps tiny: DBSCAN finds many small clusters plus noise -> merged down to 3.
    many = ImageClusterer(3, 'dbscan', normalize=None, params={'eps': 0.3, 'min_samples': 2})
    labels = many.fit_predict(X)
    assert many.n_clusters_found_ > 3
    assert _exactly_k(labels, 3) and nmi(y, labels) > 0.9
    # eps huge: one cluster -> split by 2-means of the widest cluster until there are 3.
    one = ImageClusterer(3, 'dbscan', normalize=None, params={'eps': 100.0})
    labels = one.fit_predict(X)
    assert one.n_clusters_found_ == 1
    assert _exactly_k(labels, 3) and nmi(y, labels) > 0.9


@pytest.mark.parametrize('method', METHODS)
def test_duplicated_samples_still_give_exactly_k(method):
    # Duplicate images give identical features: k-means/GMM return fewer groups and the
    # free-k split could not separate identical points (it looped forever before the fix).
    X = np.vstack([np.zeros((5, 2)), np.ones((1, 2))])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # sklearn warns about the duplicates, rightly
        for k in (2, 3, 5):
            labels = ImageClusterer(k, method, normalize=None, random_state=0).fit_predict(X)
            assert _exactly_k(labels, k), (k, labels)
            assert labels[5] != labels[0]  # the one distinct sample is never merged in


@pytest.mark.parametrize('method', METHODS)
def test_k_equal_one_and_k_equal_n(blobs, method):
    X = blobs[0][:7]
    assert ImageClusterer(1, method).fit_predict(X).tolist() == [0] * 7
    assert ImageClusterer(7, method).fit_predict(X).tolist() == list(range(7))


def test_sklearn_contract_clone_and_get_params():
    params = {'linkage': 'average'}
    est = ImageClusterer(n_clusters=4, method='kmeans', normalize='standard', pca=0.9,
                         random_state=3, params=params)
    assert est.params is params  # __init__ stores, never copies or validates
    assert est.get_params() == {'n_clusters': 4, 'method': 'kmeans', 'normalize': 'standard',
                                'pca': 0.9, 'random_state': 3, 'params': params}
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    twin.set_params(n_clusters=2, method='agglomerative')
    assert (twin.n_clusters, twin.method, est.n_clusters) == (2, 'agglomerative', 4)
    with pytest.raises(NotFittedError):
        check_is_fitted(twin)
    # Invalid arguments are only reported at fit time (sklearn contract).
    ImageClusterer(n_clusters=-3, method='nope')


def test_fit_returns_self_and_learned_attributes(blobs):
    X, _ = blobs
    est = ImageClusterer(3, method='agglomerative', params={'linkage': 'average'})
    assert est.fit(X) is est
    check_is_fitted(est)
    assert est.estimator_.linkage == 'average'
    assert est.n_clusters_found_ == 3
    assert est.labels_.shape == (len(X),)


def test_works_inside_sklearn_pipeline(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), ImageClusterer(3, 'kmeans', random_state=0))
    assert nmi(y, pipe.fit_predict(X)) > 0.9
    assert nmi(y, clone(pipe).fit_predict(X)) > 0.9


def test_pca_option(blobs):
    X, y = blobs
    rng = np.random.RandomState(0)
    wide = np.hstack([X, 0.05 * rng.randn(len(X), 30)])
    for pca in (2, 0.95, 500):  # 500 > n_features: capped, not an error
        labels = ImageClusterer(3, 'kmeans', pca=pca, normalize=None,
                                random_state=0).fit_predict(wide)
        assert nmi(y, labels) > 0.9


@pytest.mark.parametrize('method', STOCHASTIC)
def test_random_state_determinism(method):
    # Overlapping blobs, so that the stochastic methods have real choices to make.
    X, _ = make_blobs(n_samples=80, centers=4, cluster_std=3.0, random_state=1)
    runs = [ImageClusterer(4, method, random_state=7).fit_predict(X) for _ in range(2)]
    assert np.array_equal(runs[0], runs[1])
    rs = np.random.RandomState(7)
    a = ImageClusterer(4, method, random_state=rs).fit_predict(X)
    assert np.array_equal(a, ImageClusterer(4, method, random_state=7).fit_predict(X))


def test_seed_matters_for_single_init_kmeans():
    # Guards against random_state being ignored: with one k-means init on structureless
    # data, some seed among several must land on a different partition.
    X = np.random.RandomState(0).rand(60, 2)
    est = ImageClusterer(5, 'kmeans', normalize=None, params={'n_init': 1})
    first = clone(est).set_params(random_state=0).fit_predict(X)
    others = [clone(est).set_params(random_state=s).fit_predict(X) for s in range(1, 6)]
    assert any(nmi(first, o) < 0.999 for o in others)


@pytest.mark.parametrize('k', [0, -1, 2.5, '3', None])
def test_bad_k_is_value_error(blobs, k):
    with pytest.raises(ValueError, match='n_clusters must be an integer >= 1'):
        ImageClusterer(n_clusters=k).fit(blobs[0])


def test_more_clusters_than_samples(blobs):
    with pytest.raises(ValueError, match='need at least 5 samples to make 5 clusters, got 4'):
        ImageClusterer(n_clusters=5).fit(blobs[0][:4])


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_features(blobs, bad):
    X = blobs[0].copy()
    X[[3, 40], 1] = bad
    with pytest.raises(ValueError, match=r'NaN or infinity in 2 row\(s\) \(first: \[3, 40\]\)'):
        ImageClusterer(3).fit(X)


@pytest.mark.parametrize('shape', [(10,), (4, 5, 2), ()])
def test_features_must_be_2d(shape):
    with pytest.raises(ValueError, match='must be a 2-D array'):
        ImageClusterer(1).fit(np.zeros(shape))


def test_unknown_method_and_normalize(blobs):
    with pytest.raises(ValueError, match="unknown method 'kmeanz'; choose one of"):
        ImageClusterer(3, method='kmeanz').fit(blobs[0])
    with pytest.raises(ValueError,
                       match="normalize must be 'l2', 'centered', 'whitened', 'standard' or None"):
        ImageClusterer(3, normalize='l1').fit(blobs[0])


def test_docstring_examples():
    import doctest

    from sorting_cell.clustering import estimator

    result = doctest.testmod(estimator)
    assert result.attempted >= 1 and result.failed == 0
