"""IDEC and DMVC: determinism, learned representation, quality on real digits, bad input."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import KMeans

from sorting_cell.clustering.metrics import nmi
from sorting_cell.multiview import DMVC, IDEC, make_multiview

# Small nets and few epochs keep the tests fast; the paper-sized defaults are benchmarked.
SMALL = dict(hidden=(64, 64, 128), pretrain_epochs=50, batch_size=100, update_interval=20,
             max_iter=100, progress=False, n_threads=1)


@pytest.fixture(scope='module')
def digits(digits_hog):
    X, H, y = digits_hog(200)
    return [X, H], y


@pytest.fixture(scope='module')
def idec_fit(digits):
    (X, _), _ = digits
    return IDEC(10, random_state=3, **SMALL).fit(X)


@pytest.fixture(scope='module')
def dmvc_fit(digits):
    views, _ = digits
    return DMVC(10, random_state=3, output_hidden=(32,), **SMALL).fit(views)


def test_idec_clusters_digits(idec_fit, digits):
    _, y = digits
    assert nmi(y, idec_fit.labels_) > 0.6
    assert set(idec_fit.labels_) <= set(range(10))
    assert 1 <= idec_fit.n_iter_ <= SMALL['max_iter']
    assert idec_fit.history_[0]['iter'] == 0


def test_idec_same_seed_same_run(idec_fit, digits):
    (X, _), _ = digits
    again = clone(idec_fit).fit(X)
    assert np.array_equal(again.labels_, idec_fit.labels_)
    assert np.array_equal(again.transform(X), idec_fit.transform(X))


def test_idec_transform_and_predict(idec_fit, digits):
    (X, _), y = digits
    Z = idec_fit.transform(X)
    assert Z.shape == (200, 10)  # embedding_dim defaults to n_clusters
    assert np.array_equal(idec_fit.predict(X), idec_fit.labels_)
    assert np.allclose(idec_fit.predict_proba(X).sum(1), 1, atol=1e-5)
    # Table-4 style: k-means on the learned representation is scoreable and sensible.
    assert nmi(y, KMeans(10, n_init=10, random_state=0).fit_predict(Z)) > 0.6


def test_dmvc_clusters_two_views(dmvc_fit, digits):
    views, y = digits
    assert nmi(y, dmvc_fit.labels_) > 0.6
    assert dmvc_fit.transform(views).shape == (200, 10)
    assert set(dmvc_fit.pretrain_loss_) == {'view0', 'view1', 'output'}


def test_dmvc_same_seed_same_run_other_seed_differs(dmvc_fit, digits):
    views, _ = digits
    again = clone(dmvc_fit).fit(views)
    assert np.array_equal(again.labels_, dmvc_fit.labels_)
    assert np.array_equal(again.cluster_centers_, dmvc_fit.cluster_centers_)
    small = [v[:60] for v in views]
    fast = clone(dmvc_fit).set_params(pretrain_epochs=2, max_iter=2)
    assert not np.array_equal(clone(fast).set_params(random_state=4).fit(small).transform(small),
                              fast.fit(small).transform(small))


def test_progress_bar_counts_epochs(digits, capsys):
    (X, _), _ = digits
    IDEC(10, random_state=0, **{**SMALL, 'pretrain_epochs': 3, 'max_iter': 2,
                                'progress': True}).fit(X[:50])
    err = capsys.readouterr().err
    assert 'pretrain AE' in err and '/3 ' in err and 'epoch' in err and 'cluster' in err


def test_idec_rejects_several_views_but_factory_concatenates(digits):
    views, _ = digits
    with pytest.raises(ValueError, match='use DMVC'):
        IDEC(10, **SMALL).fit(views)
    est = make_multiview('idec', 10, random_state=0, **SMALL).fit([v[:100] for v in views])
    assert est.transform([v[:100] for v in views]).shape == (100, 10)


@pytest.mark.parametrize('cls', [IDEC, DMVC])
def test_deep_methods_reject_bad_input(cls, digits):
    (X, H), _ = digits
    bad = X[:40].copy()
    bad[5, 5] = np.nan
    with pytest.raises(ValueError, match=r'NaN.*\[5\]'):
        cls(3, **SMALL).fit(bad)
    with pytest.raises(ValueError, match='constant'):
        cls(3, **SMALL).fit(np.ones((40, 8)))
    with pytest.raises(ValueError, match='larger than the number of samples'):
        cls(41, **SMALL).fit(X[:40])
    with pytest.raises(ValueError, match='pretrain_epochs'):
        cls(3, **{**SMALL, 'pretrain_epochs': 0}).fit(X[:40])
    with pytest.raises(RuntimeError, match='not fitted'):
        cls(3, **SMALL).transform(X[:40])


def test_transform_checks_feature_count(idec_fit, digits):
    (X, _), _ = digits
    with pytest.raises(ValueError, match='expected views with'):
        idec_fit.transform(X[:, :10])


def test_torch_global_state_restored(digits):
    import torch

    (X, _), _ = digits
    before = torch.get_num_threads()
    IDEC(3, random_state=0, **{**SMALL, 'pretrain_epochs': 2, 'max_iter': 2}).fit(X[:30])
    assert torch.get_num_threads() == before


def test_auto_update_interval_is_half_an_epoch_clipped():
    est = IDEC(3, batch_size=256)
    assert est.update_interval == 'auto'
    assert est._update_interval(112) == 10           # tiny set: floor of 10 iterations
    assert est._update_interval(70000) == 137        # MNIST: about the paper's 140
    assert est._update_interval(10 ** 6) == 140      # never above the paper's value
    assert IDEC(3, update_interval=7)._update_interval(112) == 7
    with pytest.raises(ValueError, match='update_interval'):
        IDEC(3, **{**SMALL, 'update_interval': 'often'}).fit(np.random.rand(30, 4))


def test_auto_interval_stops_early_on_easy_data():
    # Well-separated blobs: labels stop moving at once, so training ends at the first
    # check after 10 iterations instead of running to max_iter.
    rng = np.random.RandomState(0)
    X = np.repeat(np.eye(3) * 10, 20, axis=0) + rng.normal(0, 0.1, (60, 3))
    est = IDEC(3, random_state=0, **{**SMALL, 'update_interval': 'auto',
                                     'pretrain_epochs': 20, 'max_iter': 1000}).fit(X)
    assert est.n_iter_ <= 20
    assert est.history_[-1]['delta_label'] < est.tol
