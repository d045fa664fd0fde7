"""Big folders: described in batches (a killed run resumes from the cache), and a
clustering that scales (Ward on a k-NN graph) where exact Ward would not fit."""
import importlib

import cv2
import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score as nmi

import sorting_cell.perception.describe as describe_mod
from sorting_cell.clustering.scalable import KnnWard
from sorting_cell.perception import Describer, Description, assign

# The package exports the function assign, which hides the module of the same name.
assign_mod = importlib.import_module('sorting_cell.perception.assign')


def _blobs(k=4, per=60, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, 16)) * 3
    return (np.vstack([c + 0.3 * rng.normal(size=(per, 16)) for c in centres]),
            np.repeat(np.arange(k), per))


def test_knn_ward_matches_separated_groups_and_exact_ward():
    from sklearn.cluster import AgglomerativeClustering
    X, y = _blobs(per=80)
    labels = KnnWard(n_clusters=4, n_components=8, pca_sample=50).fit_predict(X)
    assert nmi(y, labels) == 1.0
    X, _ = _blobs(k=6, per=50, seed=2)
    X += np.random.default_rng(3).normal(0, 1.5, X.shape)  # overlapping groups
    exact = AgglomerativeClustering(n_clusters=6).fit_predict(X)
    assert nmi(exact, KnnWard(n_clusters=6, n_components=16).fit_predict(X)) > 0.8


def test_assign_switches_to_knn_ward_above_the_exact_limit(monkeypatch):
    X, y = _blobs()
    monkeypatch.setattr(assign_mod, 'EXACT_WARD_MAX', 100)
    d = Description.of_features(X)
    labels = assign(d, 4)
    assert nmi(y, labels) == 1.0
    assert 'nearest-neighbour graph' in d.decisions['clustering'].reason
    small = Description.of_features(X[:90])
    assign(small, 2)
    assert 'clustering' not in small.decisions


@pytest.fixture()
def folder(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(40):
        img = np.full((48, 48, 3), 30, np.uint8)
        if i % 2:
            cv2.circle(img, (24, 24), int(rng.integers(8, 18)), (200, 200, 200), -1)
        else:
            cv2.rectangle(img, (8, 8), (40, int(rng.integers(20, 40))), (200, 80, 80), -1)
        img[0, 0] = i  # every image differs (the cache keys pixels)
        paths.append(tmp_path / f'{i:03d}.png')
        cv2.imwrite(str(paths[-1]), img)
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    return [*paths[:20], tmp_path / 'broken.png', *paths[20:]]


def test_streamed_description_equals_the_whole_one(folder, monkeypatch):
    whole = Describer(features='hog', proposer='none').images(folder)
    monkeypatch.setattr(describe_mod, 'STREAM_ABOVE', 10)
    monkeypatch.setattr(describe_mod, 'STREAM_BATCH', 8)
    streamed = Describer(features='hog', proposer='none').images(folder)
    assert streamed.usable == whole.usable and len(streamed) == 40
    assert np.allclose(streamed.views[0], whole.views[0], atol=1e-6)
    assert streamed.items[20].error and all(it.region is None for it in streamed.items)


def test_a_killed_streamed_run_resumes_from_the_cache(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(describe_mod, 'STREAM_ABOVE', 10)
    monkeypatch.setattr(describe_mod, 'STREAM_BATCH', 8)
    cache = tmp_path / 'cache'
    original = Describer._features
    calls = []

    def dies_on_third_batch(self, crops, *args):
        calls.append(len(crops))
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run is killed here
        return original(self, crops, *args)

    monkeypatch.setattr(Describer, '_features', dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        Describer(features='hog', proposer='none', cache_dir=cache).images(folder)
    done = sum(calls[:2])
    monkeypatch.setattr(Describer, '_features', original)
    again = Describer(features='hog', proposer='none', cache_dir=cache)
    d = again.images(folder)
    extractor = again.extractor()
    assert len(d) == 40 and extractor.n_hits_ == done and extractor.n_misses_ == 40 - done


def test_knn_ward_joins_many_groups_of_near_duplicates_cheaply():
    from sorting_cell.clustering.scalable import _connected
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import kneighbors_graph
    rng = np.random.default_rng(0)
    base = rng.normal(size=(300, 8))
    P = np.repeat(base, 5, axis=0) + 1e-4 * rng.normal(size=(1500, 8))  # 300 cliques of 5
    G = kneighbors_graph(P, 4, include_self=False)
    assert connected_components(G, directed=False)[0] >= 300
    assert connected_components(_connected(G, P), directed=False)[0] == 1
    labels = KnnWard(n_clusters=3, n_neighbors=4, n_components=8).fit_predict(P)
    assert len(np.unique(labels)) == 3
