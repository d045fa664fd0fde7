"""LiteRT extractors, the registry, concatenation and the scikit-learn contract."""
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import normalized_mutual_info_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, normalize

from sorting_cell.features import (CachedExtractor, ColorHistogram, ConcatFeatures,
                                   FeatureExtractor, HOGFeatures, LiteRTFeatures,
                                   TorchvisionFeatures, make_extractor)
from sorting_cell.features import litert as litert_mod
from sorting_cell.images import load_image

pytest.importorskip('ai_edge_litert')

EMBED_DIM = {'mobilenet_v1': 1024, 'mobilenet_v2': 1280, 'mobilenet_v2_tf2': 1280}


@pytest.fixture(scope='module')
def condition2(tools_root):
    """All 112 photos of condition 2: images, class labels, object ids."""
    images, labels, objects = [], [], []
    for cls_dir in sorted((tools_root / 'conditions2').iterdir()):
        for path in sorted(cls_dir.glob('*.jpg')):
            images.append(load_image(path))
            labels.append(cls_dir.name)
            objects.append(f'{cls_dir.name}/{path.name[0]}')
    return images, np.array(labels), np.array(objects)


@pytest.fixture(scope='module')
def few(condition2):
    """Six photos of three classes, plus odd-shaped crops cut from them."""
    images, labels, _ = condition2
    idx = [0, 1, 20, 21, 60, 61]
    return [images[i] for i in idx], labels[idx]


@pytest.mark.parametrize('model', sorted(EMBED_DIM))
def test_litert_embedding_shape_dtype_determinism(model, few):
    images, _ = few
    odd = [images[0][100:131, 200:517], images[1][:, :, 0]]  # thin strip, gray
    ext = LiteRTFeatures(model)
    a = ext.transform(images + odd)
    b = LiteRTFeatures(model).transform(images + odd)
    assert a.shape == (8, EMBED_DIM[model]) and a.dtype == np.float32
    assert np.isfinite(a).all() and (a != 0).any(axis=1).all()
    np.testing.assert_array_equal(a, b)
    assert ext.output_dim() == EMBED_DIM[model]


def test_layer_aliases_point_at_the_pooled_embedding_and_head():
    v2 = LiteRTFeatures('mobilenet_v2').layer_aliases()
    assert v2 == {'embedding': 'MobilenetV2/Logits/AvgPool',
                  'feature_map': 'MobilenetV2/Conv_1/Relu6',
                  'logits': 'MobilenetV2/Logits/Squeeze1',
                  'probabilities': 'MobilenetV2/Predictions/Softmax'}
    assert LiteRTFeatures('mobilenet_v1').layer_aliases() == {
        'embedding': 'MobilenetV1/Logits/AvgPool_1a/AvgPool',
        'feature_map': 'MobilenetV1/MobilenetV1/Conv2d_13_pointwise/Relu6'}
    tf2 = LiteRTFeatures('mobilenet_v2_tf2').layer_aliases()
    assert tf2['embedding'].startswith('MobileNetV2/top/Reshape')
    assert set(tf2) == {'embedding', 'feature_map', 'logits', 'probabilities'}


def test_tensor_names_and_probabilities(few):
    images, _ = few
    ext = LiteRTFeatures('mobilenet_v2', layer='probabilities')
    names = ext.tensor_names()
    assert 'MobilenetV2/Logits/AvgPool' in names and 'MobilenetV2/expanded_conv_15/add' in names
    assert len(names) == len(set(names)) > 50
    p = ext.transform(images)
    assert p.shape == (6, 1001)
    # dequantized softmax: sums to 1 up to the 1/256 output quantisation
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=0.15)
    with pytest.raises(ValueError, match="no 'logits' tensor"):
        LiteRTFeatures('mobilenet_v1', layer='logits').transform(images[:1])


def test_intermediate_tensor_matches_reference_interpreter(few):
    """The pruned graph yields the same tensor as a full debug run of the original model."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    images, _ = few
    name = 'MobilenetV2/expanded_conv_15/add'
    ext = LiteRTFeatures('mobilenet_v2', layer=name, pool='none', tta='none')
    ours = ext.transform(images[:1])
    assert ours.shape == (1, 7 * 7 * 160) == (1, ext.output_dim())
    pooled = LiteRTFeatures('mobilenet_v2', layer=name, resize='pad',
                            tta='none').transform(images[:1])
    np.testing.assert_allclose(pooled[0], ours[0].reshape(49, 160).mean(axis=0), rtol=1e-5)

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ref = Interpreter(model_path=str(ext.model_path()),
                          experimental_preserve_all_tensors=True,
                          experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    ref.allocate_tensors()
    inp = ref.get_input_details()[0]
    from sorting_cell.features.preprocess import to_square
    ref.set_tensor(inp['index'], ext._input_lut(inp)[to_square(images[0], 224, 'pad')][None])
    ref.invoke()
    detail = next(t for t in ref.get_tensor_details() if t['name'] == name)
    scale, zero = detail['quantization']
    expected = (ref.get_tensor(detail['index']).astype(np.float32) - zero) * scale
    # XNNPACK and the reference kernels round differently; values agree closely.
    assert np.corrcoef(expected.ravel(), ours[0])[0, 1] > 0.99


def test_feature_maps_are_what_the_embedding_pools(few):
    images, _ = few
    ext = LiteRTFeatures('mobilenet_v2_tf2', tta='none')
    maps = ext.feature_maps(images[:3])
    assert [m.shape[-1] for m in maps] == [1280] * 3 and all(m.ndim == 3 for m in maps)
    np.testing.assert_allclose(np.stack([m.mean(axis=(0, 1)) for m in maps]),
                               ext.transform(images[:3]), rtol=1e-5, atol=1e-6)


def test_wrong_layer_name_is_a_clear_error(few):
    images, _ = few
    with pytest.raises(ValueError, match=r"no tensor named 'MobilenetV2/expanded_conv_99/add'"
                                         r".*tensor_names\(\).*closest: MobilenetV2/"):
        LiteRTFeatures('mobilenet_v2', layer='MobilenetV2/expanded_conv_99/add').transform(images)
    with pytest.raises(ValueError, match='resize mode'):
        LiteRTFeatures('mobilenet_v2', resize='squash').transform(images)
    with pytest.raises(ValueError, match='neither a bundled LiteRT model'):
        LiteRTFeatures('/no/such/model.tflite').transform(images)


def test_input_quantisation_maps_pixels_to_the_trained_range():
    for model in EMBED_DIM:
        ext = LiteRTFeatures(model)
        rt = ext._runtime()
        lut = ext._input_lut(rt.input)
        scale, zero = rt.input['quantization']
        real = (lut.astype(np.float64) - zero) * scale
        np.testing.assert_allclose(real, np.arange(256) / 127.5 - 1.0, atol=scale)


def test_batched_interpreter_gives_the_same_features(few):
    images, _ = few
    one = LiteRTFeatures('mobilenet_v2', batch_size=1).transform(images + images[:1])
    ext = LiteRTFeatures('mobilenet_v2', batch_size=4)
    four = ext.transform(images + images[:1])  # 7 images: a padded last batch
    assert ext._runtime().batch == 4  # the pruned graph accepts a batch
    np.testing.assert_allclose(one, four, atol=1e-6)
    # the classifier head bakes batch 1 into a reshape: falls back to one at a time
    logits = LiteRTFeatures('mobilenet_v2', layer='logits', batch_size=4)
    assert logits.transform(images[:5]).shape == (5, 1001)
    assert logits._runtime().batch == 1


def test_lazy_loading_clone_and_pickle(few):
    images, _ = few
    before = set(litert_mod._RUNTIMES)
    ext = LiteRTFeatures('mobilenet_v2_tf2', num_threads=1, batch_size=3, resize='crop')
    params = ext.get_params()
    twin = clone(ext)
    assert set(litert_mod._RUNTIMES) == before  # nothing loaded yet
    assert twin.get_params() == params and twin is not ext
    # a missing model file is only noticed when features are asked for
    ghost = LiteRTFeatures('/nowhere/model.tflite')
    assert clone(ghost).model == '/nowhere/model.tflite'
    assert ext.load() is ext  # explicit load, e.g. at node start-up
    assert len(set(litert_mod._RUNTIMES) - before) == 1
    out = ext.transform(images[:2])
    assert len(set(litert_mod._RUNTIMES) - before) == 1  # reused, not rebuilt
    again = pickle.loads(pickle.dumps(ext)).transform(images[:2])
    np.testing.assert_array_equal(out, again)
    # torchvision: DEFAULT weights are not fetched by construction or clone
    tv = clone(TorchvisionFeatures('resnet50', weights='DEFAULT'))
    assert tv.get_params()['weights'] == 'DEFAULT'


def test_sklearn_pipeline_extractor_then_clusterer(condition2):
    images, labels, _ = condition2
    pipe = Pipeline([('features', LiteRTFeatures('mobilenet_v1')), ('l2', Normalizer()),
                     ('cluster', AgglomerativeClustering(n_clusters=7))])
    pred = pipe.fit_predict(images)
    # whole 640x480 photos, object small in frame: benchmarks/feature_layers.py measures
    # NMI 0.86 for this condition
    assert normalized_mutual_info_score(labels, pred) > 0.7
    assert clone(pipe).get_params()['features__model'] == 'mobilenet_v1'


def test_same_object_shots_are_closer_than_other_classes(condition2):
    """Quality: the default embedding groups shots of one object, apart from other classes."""
    images, labels, objects = condition2
    X = normalize(make_extractor('mobilenet_v2').transform(images))
    D = 1.0 - X @ X.T
    same = (objects[:, None] == objects[None, :]) & ~np.eye(len(X), dtype=bool)
    other = labels[:, None] != labels[None, :]
    ratio = D[same].mean() / D[other].mean()
    assert ratio < 0.7, ratio  # measured 0.53 (feature_layers.py, all conditions)
    per_image = np.array([D[i, same[i]].mean() < D[i, other[i]].mean()
                          for i in range(len(X))])
    assert per_image.mean() > 0.9


def test_registry_names_and_errors(tmp_path):
    assert isinstance(make_extractor('mobilenet_v2'), LiteRTFeatures)
    assert make_extractor('mobilenet_v2:MobilenetV2/expanded_conv_15/add').layer == \
        'MobilenetV2/expanded_conv_15/add'
    tv = make_extractor('torchvision:resnet18:avgpool')
    assert (tv.arch, tv.layer) == ('resnet18', 'avgpool')
    assert isinstance(make_extractor('hog'), HOGFeatures)
    ext = ColorHistogram(bins=(4, 4, 4))
    assert make_extractor(ext) is ext
    cached = make_extractor(ext, cache_dir=tmp_path)
    assert isinstance(cached, CachedExtractor) and cached.extractor is ext
    with pytest.raises(ValueError) as info:
        make_extractor('mobilenet_v3')
    for valid in ('mobilenet_v1', 'mobilenet_v2', 'mobilenet_v2_tf2', 'torchvision:', 'hog',
                  'gabor', 'colorhist', 'raw'):
        assert valid in str(info.value)
    for bad in ('', 'hog:3', 'torchvision:', 'mobilenet_v1++hog'):
        with pytest.raises(ValueError):
            make_extractor(bad)
    with pytest.raises(TypeError, match='registry name or a FeatureExtractor'):
        make_extractor(3)


def test_torchvision_weights_from_environment(monkeypatch):
    monkeypatch.setenv('SORTING_CELL_TORCHVISION_WEIGHTS', 'none')
    assert make_extractor('torchvision:resnet18').weights is None
    monkeypatch.setenv('SORTING_CELL_TORCHVISION_WEIGHTS', 'IMAGENET1K_V1')
    assert make_extractor('torchvision:resnet18').weights == 'IMAGENET1K_V1'
    monkeypatch.delenv('SORTING_CELL_TORCHVISION_WEIGHTS')
    assert make_extractor('torchvision:resnet18').weights == 'DEFAULT'


def test_concat_views_are_unit_norm_and_exposed(few, tmp_path):
    images, _ = few
    ext = make_extractor('mobilenet_v1+colorhist+hog')
    assert isinstance(ext, ConcatFeatures)
    assert ext.view_names == ['mobilenet_v1', 'colorhist', 'hog']
    assert [type(v).__name__ for v in ext.views] == ['LiteRTFeatures', 'ColorHistogram',
                                                     'HOGFeatures']
    X = ext.transform(images)
    assert X.shape == (6, 1024 + 128 + 1764) and [s.stop - s.start for s in ext.slices_] == \
        [1024, 128, 1764]
    for s in ext.slices_:
        np.testing.assert_allclose(np.linalg.norm(X[:, s], axis=1), 1.0, rtol=1e-5)
    views = ext.transform_views(images)
    np.testing.assert_allclose(np.hstack(views), X)
    twin = clone(ext)
    np.testing.assert_allclose(twin.transform(images), X)
    # cached concatenation caches each view on its own
    cached = make_extractor('mobilenet_v1+colorhist', cache_dir=tmp_path)
    assert all(isinstance(v, CachedExtractor) for v in cached.views)
    np.testing.assert_allclose(cached.transform(images), X[:, :1024 + 128], rtol=1e-6)
    assert sum(1 for p in Path(tmp_path).iterdir() if p.is_dir()) == 2


def test_config_is_plain_data_and_changes_with_parameters():
    a = LiteRTFeatures('mobilenet_v2').config()
    b = LiteRTFeatures('mobilenet_v2', resize='crop').config()
    assert a != b and a['class'] == 'LiteRTFeatures' and 'version' in a
    nested = ConcatFeatures([HOGFeatures(), 'colorhist']).config()
    assert nested['extractors'][0]['class'] == 'HOGFeatures'
    assert isinstance(FeatureExtractor().config(), dict)
    assert re.fullmatch(r'[0-9a-f]{64}', __import__(
        'sorting_cell.features.cache', fromlist=['config_hash']).config_hash(a))
