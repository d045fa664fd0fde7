"""torchvision backend with weights=None (no download): nodes, pooling, batching."""
import numpy as np
import pytest
from sklearn.base import clone

from sorting_cell.features import TorchvisionFeatures, make_extractor

torch = pytest.importorskip('torch')
pytest.importorskip('torchvision')


@pytest.fixture(scope='module')
def crops():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (s, s + 17, 3), dtype=np.uint8) for s in (40, 150, 301)]


def test_resnet18_embedding_equals_avgpool_node(crops):
    emb = TorchvisionFeatures('resnet18', weights=None, batch_size=2)
    X = emb.transform(crops)
    assert X.shape == (3, 512) and X.dtype == np.float32 and np.isfinite(X).all()
    node = TorchvisionFeatures('resnet18', layer='avgpool', weights=None).transform(crops)
    np.testing.assert_allclose(X, node, rtol=1e-4, atol=1e-5)
    # seeded random init: the same features from a fresh instance, across batch sizes
    np.testing.assert_allclose(clone(emb).set_params(batch_size=3).transform(crops), X,
                               rtol=1e-4, atol=1e-5)


def test_spatial_node_is_pooled_or_flattened(crops):
    pooled = TorchvisionFeatures('resnet18', layer='layer3', weights=None).transform(crops[:1])
    assert pooled.shape == (1, 256)
    flat = TorchvisionFeatures('resnet18', layer='layer3', weights=None,
                               pool='none').transform(crops[:1])
    assert flat.shape == (1, 256 * 14 * 14)
    np.testing.assert_allclose(flat.reshape(256, 196).mean(axis=1), pooled[0], rtol=1e-4,
                               atol=1e-5)
    probs = TorchvisionFeatures('resnet18', layer='probabilities',
                                weights=None).transform(crops[:2])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_node_names_and_clear_errors(crops, monkeypatch):
    ext = TorchvisionFeatures('resnet18', weights=None)
    assert {'avgpool', 'flatten', 'fc', 'layer4.1.relu_1'} <= set(ext.node_names())
    with pytest.raises(ValueError, match=r"no node 'layer9'.*node_names\(\)"):
        TorchvisionFeatures('resnet18', layer='layer9', weights=None).transform(crops[:1])
    with pytest.raises(ValueError, match='unknown torchvision classification model'):
        TorchvisionFeatures('resnet19', weights=None).transform(crops[:1])
    with pytest.raises(ValueError, match='IMAGENET1K_V1'):
        TorchvisionFeatures('resnet18', weights='IMAGENET9K').transform(crops[:1])
    monkeypatch.setenv('SORTING_CELL_TORCHVISION_WEIGHTS', 'none')
    assert make_extractor('torchvision:resnet18:layer4').transform(crops[:1]).shape == (1, 512)


def test_default_weights_resolve_in_torchvision_registry_without_download():
    import torchvision

    ext = TorchvisionFeatures('resnet18')  # weights='DEFAULT'
    assert ext._weights_enum() is torchvision.models.ResNet18_Weights.DEFAULT
    v2 = TorchvisionFeatures('resnet50', weights='IMAGENET1K_V2')._weights_enum()
    assert v2.transforms().crop_size == [224] and v2.url.startswith('https://')
