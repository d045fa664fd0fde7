"""Clustering scores against small examples worked out by hand."""
import math

import numpy as np
import pytest

from sorting_cell.clustering import metrics as m
from sorting_cell.clustering import score_all

# Worked example used below: 6 samples, 2 classes, 3 clusters.
#   y_true = [0, 0, 0, 1, 1, 1]
#   y_pred = [0, 0, 1, 1, 2, 2]
# Contingency table (classes x clusters):
#             c0  c1  c2 | row sums
#   class 0    2   1   0 |  3
#   class 1    0   1   2 |  3
#   col sums   2   2   2 |  6
# purity = (2 + 1 + 2) / 6 = 5/6 (each cluster's majority; c1 is a tie: 1).
# acc    = best one-to-one map class0->c0, class1->c2: (2 + 2) / 6 = 2/3.
# Pairs (15 unordered): together in y_true: 3 + 3 = 6; together in y_pred: 1 + 1 + 1 = 3
#   ({0,1}, {2,3}, {4,5}); together in both: {0,1}, {4,5} -> TP = 2, FP = 3 - 2 = 1,
#   FN = 6 - 2 = 4.
# jaccard = TP / (TP + FP + FN) = 2/7;  fmi = sqrt(2/3 * 2/6) = sqrt(2/9).
# ARI: index = sum C(n_ij, 2) = 1 + 1 = 2; sum_i C(a_i, 2) = 6; sum_j C(b_j, 2) = 3;
#   expected = 6 * 3 / 15 = 1.2; max = (6 + 3) / 2 = 4.5 -> (2 - 1.2) / (4.5 - 1.2) = 8/33.
# NMI: H(true) = ln 2, H(pred) = ln 3, MI = 2 * (1/3) ln((1/3) / (1/2 * 1/3)) = (2/3) ln 2
#   -> MI / ((ln 2 + ln 3) / 2) = (4/3) ln 2 / ln 6.
Y_TRUE = [0, 0, 0, 1, 1, 1]
Y_PRED = [0, 0, 1, 1, 2, 2]
HAND = {
    'purity': 5 / 6,
    'acc': 2 / 3,
    'jaccard': 2 / 7,
    'fmi': math.sqrt(2 / 9),
    'ari': 8 / 33,
    'nmi': (4 / 3) * math.log(2) / math.log(6),
}


@pytest.mark.parametrize('name', sorted(HAND))
def test_worked_example(name):
    assert getattr(m, name)(Y_TRUE, Y_PRED) == pytest.approx(HAND[name], abs=1e-12)


def test_ami_below_nmi_and_zero_for_chance():
    # AMI subtracts the MI expected by chance, so it is below NMI on the worked example
    # and averages ~0 over random labelings, where NMI stays clearly positive.
    assert m.ami(Y_TRUE, Y_PRED) < m.nmi(Y_TRUE, Y_PRED)
    rng = np.random.RandomState(0)
    amis, nmis, aris = [], [], []
    for _ in range(50):
        a, b = rng.randint(0, 4, 40), rng.randint(0, 4, 40)
        amis.append(m.ami(a, b))
        nmis.append(m.nmi(a, b))
        aris.append(m.ari(a, b))
    assert abs(np.mean(amis)) < 0.02
    assert abs(np.mean(aris)) < 0.02
    assert np.mean(nmis) > 0.03


def test_perfect_clustering_with_string_classes():
    y_true = ['pen', 'pen', 'usb', 'usb', 'clamp', 'clamp']
    y_pred = [2, 2, 0, 0, 1, 1]
    for name, value in score_all(y_true, y_pred).items():
        assert value == pytest.approx(1.0), name


def test_acc_more_clusters_than_classes_counts_surplus_as_wrong():
    # classes a a a a b b, clusters 0 0 1 1 2 2: table a:[2,2,0], b:[0,0,2]. One-to-one
    # a->0 (or 1) and b->2 gives (2 + 2) / 6; purity lets 0 and 1 both vote a: 6/6.
    y_true, y_pred = list('aaaabb'), [0, 0, 1, 1, 2, 2]
    assert m.acc(y_true, y_pred) == pytest.approx(4 / 6)
    assert m.purity(y_true, y_pred) == pytest.approx(1.0)


def test_single_cluster():
    # Everything in one cluster: purity = acc = majority share 3/6; no information (NMI 0,
    # ARI 0); every pair is together in y_pred: TP = 6 true pairs, FP = 15 - 6 = 9, FN = 0
    # -> jaccard 6/15, fmi = sqrt(6/15 * 6/6).
    y_pred = [0] * 6
    assert m.purity(Y_TRUE, y_pred) == pytest.approx(0.5)
    assert m.acc(Y_TRUE, y_pred) == pytest.approx(0.5)
    assert m.nmi(Y_TRUE, y_pred) == pytest.approx(0.0)
    assert m.ari(Y_TRUE, y_pred) == pytest.approx(0.0)
    assert m.jaccard(Y_TRUE, y_pred) == pytest.approx(6 / 15)
    assert m.fmi(Y_TRUE, y_pred) == pytest.approx(math.sqrt(0.4))
    # One class and one cluster agree perfectly.
    assert score_all([5] * 4, [0] * 4) == pytest.approx({k: 1.0 for k in m.EXTERNAL})


def test_all_singletons():
    # Six clusters of one: purity 1 (why it is never reported alone), acc = 2/6 (only two
    # clusters can be mapped one-to-one), no pair together in y_pred: TP = 0 -> jaccard 0.
    # NMI = MI / mean(H) with MI = H(true) = ln 2, H(pred) = ln 6: 2 ln 2 / ln 12.
    y_pred = list(range(6))
    assert m.purity(Y_TRUE, y_pred) == pytest.approx(1.0)
    assert m.acc(Y_TRUE, y_pred) == pytest.approx(1 / 3)
    assert m.jaccard(Y_TRUE, y_pred) == 0.0
    assert m.fmi(Y_TRUE, y_pred) == 0.0
    assert m.nmi(Y_TRUE, y_pred) == pytest.approx(2 * math.log(2) / math.log(12))
    # Both labelings all singletons: identical partitions.
    assert score_all(y_pred, y_pred[::-1]) == pytest.approx({k: 1.0 for k in m.EXTERNAL})


def test_internal_scores_worked_example():
    # 1-D points 0, 2 | 10, 12: centroids 1 and 11, mean distance to centroid 1 in each,
    # centroid distance 10 -> DBI = (1 + 1) / 10 = 0.2, nDBI = 1 / 1.2.
    # Silhouettes: x=0: a=2, b=mean(10, 12)=11 -> 9/11; x=2: a=2, b=mean(8, 10)=9 -> 7/9;
    # symmetric for 10, 12 -> mean (9/11 + 7/9) / 2.
    X = np.array([[0.0], [2.0], [10.0], [12.0]])
    labels = [0, 0, 1, 1]
    assert m.davies_bouldin(X, labels) == pytest.approx(0.2)
    assert m.normalized_davies_bouldin(X, labels) == pytest.approx(1 / 1.2)
    assert m.silhouette(X, labels) == pytest.approx((9 / 11 + 7 / 9) / 2)
    scores = score_all(None, labels, X)
    assert set(scores) == set(m.INTERNAL)
    assert scores['ndbi'] == pytest.approx(1 / 1.2)


def test_ndbi_ranks_like_dbi():
    rng = np.random.RandomState(1)
    labels = np.repeat([0, 1, 2], 20)
    centres = np.array([[0, 0], [1, 0], [0, 1]], dtype=float)
    tight = centres[labels] + 0.05 * rng.randn(60, 2)
    loose = centres[labels] + 0.4 * rng.randn(60, 2)
    d_tight, d_loose = m.davies_bouldin(tight, labels), m.davies_bouldin(loose, labels)
    n_tight = m.normalized_davies_bouldin(tight, labels)
    n_loose = m.normalized_davies_bouldin(loose, labels)
    assert d_tight < d_loose and n_tight > n_loose
    assert 0.0 < n_loose < n_tight <= 1.0
    assert n_tight > 0.8


def test_internal_scores_undefined_cases():
    X = np.arange(8, dtype=float).reshape(4, 2)
    for labels in ([0, 0, 0, 0], [0, 1, 2, 3]):
        with pytest.raises(ValueError, match='number of clusters'):
            m.davies_bouldin(X, labels)
        with pytest.raises(ValueError, match='number of clusters'):
            m.silhouette(X, labels)
        scores = score_all(None, labels, X)
        assert all(math.isnan(scores[k]) for k in m.INTERNAL)


def test_label_permutation_invariance():
    rng = np.random.RandomState(42)
    y_true = rng.randint(0, 4, 50)
    y_pred = np.where(rng.rand(50) < 0.7, y_true, rng.randint(0, 5, 50))
    X = rng.randn(50, 3) + y_pred[:, None]
    base = score_all(y_true, y_pred, X)
    names = np.array(['allen', 'clamp', 'driver', 'flat'])
    relabel = rng.permutation(5) + 10
    permuted = score_all(names[y_true], relabel[y_pred], X)
    assert permuted == pytest.approx(base)
    # A mediocre clustering scores strictly between chance and perfect.
    assert 0.2 < base['nmi'] < 0.95 and 0.2 < base['acc'] < 0.95


@pytest.mark.parametrize('name', m.EXTERNAL)
def test_length_mismatch_is_value_error(name):
    with pytest.raises(ValueError, match='same samples'):
        getattr(m, name)([0, 0, 1], [0, 1])


def test_bad_shapes_are_value_errors():
    with pytest.raises(ValueError, match='same samples'):
        score_all([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match='empty'):
        score_all([], [])
    with pytest.raises(ValueError, match='1-D'):
        m.nmi([[0, 1]], [[0, 1]])
    with pytest.raises(ValueError, match='one row per label'):
        score_all(None, [0, 1, 1], np.zeros((4, 2)))
    with pytest.raises(ValueError, match='one entry per row'):
        m.silhouette(np.zeros((4, 2)), [0, 1, 1])


def test_docstring_examples():
    import doctest

    result = doctest.testmod(m, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 1 and result.failed == 0
