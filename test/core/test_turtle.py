"""TURTLE: the labelling linear classifiers in several frozen spaces separate best."""
import warnings

import numpy as np
import pytest
import sklearn.utils.estimator_checks as checks
from sklearn.cluster import AgglomerativeClustering

from sorting_cell.clustering.turtle import TURTLEClusterer
from sorting_cell.perception import Description, assign, lookup
from sorting_cell.perception.methods import Input

# Small and quick: a few hundred tiny full-batch steps on 60 rows.
FAST = dict(outer_steps=150, n_init=4)


def two_views(n_per=20, seed=0, nuisance=2.5):
    """Three groups seen by two nets, each with its own strong nuisance split.

    In each view the groups sit at three corners, and a nuisance column (twice as far
    apart as the groups) splits the rows at random, differently in each view. A labelling
    by a nuisance is linearly separable in its own view only; the groups in both.
    """
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per)
    views = []
    for _ in range(2):
        V = rng.normal(0, 0.3, (len(y), 6))
        V[np.arange(len(y)), y] += 2.5
        V[:, 5] += np.where(rng.random(len(y)) < 0.5, nuisance, -nuisance)
        views.append(V)
    return views, y


def same_partition(a, b) -> bool:
    """True when the two labelings group the rows identically (names aside)."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_finds_the_labelling_every_view_separates():
    views, y = two_views()
    est = TURTLEClusterer(3, random_state=0, **FAST).fit(views)
    assert same_partition(est.labels_, y), est.labels_
    assert est.n_views_ == 2 and est.n_clusters_found_ == 3
    # not an easy case: Ward on the views side by side follows the nuisances
    ward = AgglomerativeClustering(n_clusters=3).fit_predict(np.hstack(views))
    assert not same_partition(ward, y)


def test_seeded_and_reports_its_restarts():
    views, _ = two_views(seed=1)
    a = TURTLEClusterer(3, random_state=3, **FAST).fit(views)
    b = TURTLEClusterer(3, random_state=3, **FAST).fit(views)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.losses_.shape == (4,) and np.isfinite(a.losses_).all()
    assert a.loss_ == a.losses_.min()


def test_every_box_gets_a_group_even_beyond_the_structure():
    views, _ = two_views(nuisance=0.0)
    labels = TURTLEClusterer(5, random_state=0, **FAST).fit(views).labels_
    # (unlike Ward, the entropy term favours even groups: with more boxes than groups
    # TURTLE may cut across groups, so only that every box is used is promised)
    assert sorted(np.unique(labels)) == [0, 1, 2, 3, 4]


def test_trivial_partitions_and_bad_input():
    views, _ = two_views(n_per=2)
    assert (TURTLEClusterer(1).fit(views).labels_ == 0).all()
    np.testing.assert_array_equal(TURTLEClusterer(6).fit(views).labels_, np.arange(6))
    with pytest.raises(ValueError, match='more clusters than samples|n_clusters'):
        TURTLEClusterer(7).fit(views)
    with pytest.raises(ValueError, match='inner_steps must be an integer >= 1'):
        TURTLEClusterer(2, inner_steps=0).fit(views)
    with pytest.raises(ValueError, match='gamma must be a number >= 0'):
        TURTLEClusterer(2, gamma=-1.0).fit(views)
    with pytest.raises(ValueError, match='lr must be a positive number'):
        TURTLEClusterer(2, lr=float('nan')).fit(views)
    with pytest.raises(ValueError, match='different|length|rows|samples'):
        TURTLEClusterer(2).fit([views[0], views[1][:-1]])
    bad = views[0].copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        TURTLEClusterer(2).fit([bad, views[1]])


def test_registered_as_a_views_method_and_run_through_assign():
    views, y = two_views()
    assert lookup('turtle').input is Input.VIEWS
    labels = assign(Description.of_features(views), 3, method='turtle', random_state=0)
    assert same_partition(labels, y), labels


API_CHECKS = ('check_no_attributes_set_in_init', 'check_parameters_default_constructible',
              'check_get_params_invariance', 'check_set_params', 'check_estimator_repr',
              'check_estimator_cloneable', 'check_dont_overwrite_parameters',
              'check_fit2d_predict1d', 'check_estimators_nan_inf')


@pytest.mark.parametrize('check', API_CHECKS)
def test_estimator_contract(check):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        getattr(checks, check)('TURTLEClusterer', TURTLEClusterer(2, outer_steps=20, n_init=2))
