"""Clusterers that learn on top of frozen features: TEMI heads and UMAP + Ward."""
import warnings

import numpy as np
import pytest
import sklearn.utils.estimator_checks as checks

from sorting_cell.clustering.frozen import TEMIClusterer, UMAPWard
from sorting_cell.perception import Description, assign, lookup
from sorting_cell.perception.methods import Input

# Small and quick: a few hundred steps on 60 rows.
FAST_TEMI = dict(epochs=100, batch_size=30, n_heads=4, hidden=32, n_components=None)


def blobs(n_per=20, seed=0):
    """Three tight groups at three corners of an 8-d cube; the answer is the group."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((3, 8))
    centres[0, 0] = centres[1, 3] = centres[2, 6] = 5.0
    X = np.vstack([c + rng.normal(0, 0.3, (n_per, 8)) for c in centres])
    return X, np.repeat(np.arange(3), n_per)


def same_partition(a, b) -> bool:
    """True when the two labelings group the rows identically (names aside)."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize('make', [lambda: TEMIClusterer(3, random_state=0, **FAST_TEMI),
                                  lambda: UMAPWard(3, random_state=0)],
                         ids=['temi', 'umap-ward'])
def test_finds_three_separated_groups(make):
    X, y = blobs()
    est = make().fit(X)
    assert est.labels_.shape == (60,)
    assert same_partition(est.labels_, y), est.labels_


def test_temi_is_seeded_and_reports_its_heads():
    X, _ = blobs(seed=1)
    a = TEMIClusterer(3, random_state=3, **FAST_TEMI).fit(X)
    b = TEMIClusterer(3, random_state=3, **FAST_TEMI).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.losses_.shape == (4,) and a.head_ == int(np.argmin(a.losses_))
    assert np.isfinite(a.losses_).all()


def test_every_box_gets_a_group_even_beyond_the_structure():
    # Five boxes for three groups: the heads may leave clusters empty, the cell may not.
    X, y = blobs()
    for est in (TEMIClusterer(5, random_state=0, **FAST_TEMI), UMAPWard(5, random_state=0)):
        labels = est.fit(X).labels_
        assert sorted(np.unique(labels)) == [0, 1, 2, 3, 4]
        # each true group is split, never merged with another
        assert all(len(set(y[labels == c])) == 1 for c in range(5))


def test_trivial_partitions_and_bad_input():
    X, _ = blobs(n_per=2)
    assert (TEMIClusterer(1, **FAST_TEMI).fit(X).labels_ == 0).all()
    np.testing.assert_array_equal(UMAPWard(6).fit(X).labels_, np.arange(6))
    with pytest.raises(ValueError, match='at least 7 samples'):
        TEMIClusterer(7).fit(X)
    with pytest.raises(ValueError, match='n_neighbors must be an integer >= 1'):
        TEMIClusterer(2, n_neighbors=0).fit(X)
    with pytest.raises(ValueError, match='momentum'):
        TEMIClusterer(2, momentum=1.0).fit(X)
    with pytest.raises(ValueError, match='n_neighbors must be an integer >= 2'):
        UMAPWard(2, n_neighbors=1).fit(X)
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match='NaN or infinity in 1 row'):
        UMAPWard(2).fit(bad)
    with pytest.raises(ValueError, match='2-D'):
        TEMIClusterer(2).fit(X[0])


def test_registered_and_run_through_assign():
    X, y = blobs()
    d = Description.of_features(X)
    for name in ('temi', 'umap-ward'):
        assert lookup(name).input is Input.MATRIX
        labels = assign(d, 3, method=name, random_state=0)
        assert same_partition(labels, y), (name, labels)


API_CHECKS = ('check_no_attributes_set_in_init', 'check_parameters_default_constructible',
              'check_get_params_invariance', 'check_set_params', 'check_estimator_repr',
              'check_estimator_cloneable', 'check_dont_overwrite_parameters',
              'check_fit2d_1sample', 'check_fit2d_predict1d', 'check_estimators_nan_inf')


@pytest.mark.parametrize('est', [TEMIClusterer(2, **FAST_TEMI), UMAPWard(2)],
                         ids=['temi', 'umap-ward'])
@pytest.mark.parametrize('check', API_CHECKS)
def test_estimator_contract(est, check):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        getattr(checks, check)(type(est).__name__, est)
