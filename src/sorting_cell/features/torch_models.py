"""Features from any torchvision classification model, at any graph node.

Weights come from torchvision's own registry (``weights='DEFAULT'`` downloads the best
ImageNet weights into torch's cache on first use). ``weights=None`` builds the
architecture with a seeded random initialisation: no download, used by the tests here.
"""
from __future__ import annotations

import difflib
import os
import threading

import numpy as np

from .base import FeatureExtractor
from .preprocess import check_resize_mode, to_square

__all__ = ['TorchvisionFeatures', 'ENV_WEIGHTS', 'classification_models', 'weights_from_env']

#: Environment variable overriding the default weights of registry-built torchvision
#: extractors: ``none`` (random init, offline) or a weights name such as ``IMAGENET1K_V1``.
ENV_WEIGHTS = 'SORTING_CELL_TORCHVISION_WEIGHTS'

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_MODELS: dict[tuple, tuple] = {}
_MODELS_LOCK = threading.Lock()


def classification_models() -> list[str]:
    """Architectures accepted by ``arch=`` (torchvision's classification models)."""
    import torchvision
    return sorted(torchvision.models.list_models(module=torchvision.models))


class TorchvisionFeatures(FeatureExtractor):
    """A torchvision classifier cut at a named node (CPU inference, batched).

    Parameters
    ----------
    arch : str
        Model name, e.g. ``'resnet18'``, ``'resnet50'``, ``'efficientnet_b0'``
        (see :func:`classification_models`).
    layer : str or None
        ``None`` or ``'embedding'``: the input of the final linear classifier (the pooled
        feature vector); ``'logits'`` / ``'probabilities'``: the classifier output (with
        softmax); otherwise a feature-extraction node name from :meth:`node_names`
        (e.g. ``'layer3'``, ``'avgpool'``). Spatial outputs (N, C, H, W) are pooled.
    weights : str or None
        ``'DEFAULT'``, a weights enum name (``'IMAGENET1K_V2'``), or ``None`` for a random
        initialisation seeded by ``random_state`` (no download).
    resize : {'pad', 'pad_gray', 'stretch', 'crop'}
        How a crop of any shape becomes the square network input.
    pool : {'avg', 'max', 'none'}
        Reduction of spatial outputs.
    batch_size : int
        Images per forward pass.
    random_state : int
        Seed of the random initialisation when ``weights`` is None.
    """

    def __init__(self, arch: str = 'resnet18', layer: str | None = None,
                 weights: str | None = 'DEFAULT', resize: str = 'pad', pool: str = 'avg',
                 batch_size: int = 32, random_state: int = 0):
        self.arch = arch
        self.layer = layer
        self.weights = weights
        self.resize = resize
        self.pool = pool
        self.batch_size = batch_size
        self.random_state = random_state

    # -- model -----------------------------------------------------------------------
    def _weights_enum(self):
        import torchvision

        if self.weights is None:
            return None
        enum = torchvision.models.get_model_weights(self.arch)
        try:
            return enum[self.weights]
        except KeyError:
            valid = ['DEFAULT', *enum.__members__]
            raise ValueError(f'unknown weights {self.weights!r} for {self.arch}; valid: '
                             f'{", ".join(valid)} or None') from None

    def _build(self):
        import torch
        import torchvision

        if self.arch not in classification_models():
            close = difflib.get_close_matches(str(self.arch), classification_models(), n=5)
            raise ValueError(f'unknown torchvision classification model {self.arch!r}'
                             + (f'; did you mean {", ".join(close)}?' if close else
                                '; see classification_models()'))
        weights = self._weights_enum()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            try:
                model = torchvision.models.get_model(self.arch, weights=weights)
            except (OSError, RuntimeError) as exc:  # URLError is an OSError
                if weights is None:
                    raise
                raise RuntimeError(
                    f'could not load {weights} for {self.arch} ({exc}). torchvision '
                    f'downloads it once from {weights.url} into '
                    f'{torch.hub.get_dir()}/checkpoints; offline, put the file there or '
                    f'use weights=None (${ENV_WEIGHTS}=none) for an untrained model') from exc
        return model.eval(), weights

    def _model(self):
        key = (self.arch, self.weights, self.random_state)
        with _MODELS_LOCK:
            if key not in _MODELS:
                _MODELS[key] = self._build()
            return _MODELS[key]

    def node_names(self) -> list[str]:
        """Feature-extraction node names accepted by ``layer=`` (eval graph)."""
        from torchvision.models.feature_extraction import get_graph_node_names
        return get_graph_node_names(self._model()[0])[1]

    def _classifier_name(self, model) -> str:
        import torch

        linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise ValueError(f'{self.arch} has no linear classifier; pass layer= a node name')
        return linears[-1]

    def _forward_fn(self):
        """A callable images-tensor -> features-tensor for the configured layer."""
        import torch
        from torchvision.models.feature_extraction import create_feature_extractor

        model, _ = self._model()
        layer = 'embedding' if self.layer is None else self.layer
        if layer in ('logits', 'probabilities'):
            if layer == 'logits':
                return model
            return lambda x: torch.softmax(model(x), dim=1)
        if layer == 'embedding':
            head = model.get_submodule(self._classifier_name(model))
            box: dict = {}

            def grab(_module, args):
                box['x'] = args[0]

            def run(x):
                handle = head.register_forward_pre_hook(grab)
                try:
                    model(x)
                finally:
                    handle.remove()
                return box.pop('x')
            return run
        nodes = self.node_names()
        # A module name ('layer3') stands for the last node inside it, as in torchvision.
        if layer not in nodes and not any(n.startswith(layer + '.') for n in nodes):
            close = difflib.get_close_matches(layer, nodes, n=5, cutoff=0.5)
            raise ValueError(f'{self.arch} has no node {layer!r}; use embedding, logits, '
                             f'probabilities or one of node_names() ({len(nodes)} nodes'
                             + (f'; closest: {", ".join(close)})' if close else ')'))
        key = (self.arch, self.weights, self.random_state, layer)
        with _MODELS_LOCK:
            if key not in _MODELS:
                _MODELS[key] = create_feature_extractor(model, return_nodes=[layer]).eval()
            extractor = _MODELS[key]
        return lambda x: extractor(x)[layer]

    def load(self) -> 'TorchvisionFeatures':
        """Build the model (downloading weights if needed) and the node extractor now."""
        self._forward_fn()
        return self

    # -- transform -------------------------------------------------------------------
    def _preprocessing(self) -> tuple[int, tuple, tuple]:
        _, weights = self._model()
        if weights is None:
            return 224, _IMAGENET_MEAN, _IMAGENET_STD
        tf = weights.transforms()
        return int(tf.crop_size[0]), tuple(tf.mean), tuple(tf.std)

    def _transform(self, images):
        import torch

        check_resize_mode(self.resize)
        if self.pool not in ('avg', 'max', 'none'):
            raise ValueError(f'unknown pool {self.pool!r}; valid: avg, max, none')
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f'batch_size must be a positive integer, got {self.batch_size!r}')
        size, mean, std = self._preprocessing()
        forward = self._forward_fn()
        mean_t = torch.tensor(mean).view(1, 3, 1, 1)
        std_t = torch.tensor(std).view(1, 3, 1, 1)
        rows = []
        with torch.inference_mode():
            for s in range(0, len(images), self.batch_size):
                chunk = np.stack([to_square(im, size, self.resize)
                                  for im in images[s:s + self.batch_size]])
                x = torch.from_numpy(chunk).permute(0, 3, 1, 2).float().div_(255.0)
                y = forward((x - mean_t) / std_t)
                if y.ndim == 4 and self.pool != 'none':
                    y = y.mean(dim=(2, 3)) if self.pool == 'avg' else y.amax(dim=(2, 3))
                elif y.ndim == 3 and self.pool != 'none':  # tokens (N, T, D)
                    y = y.mean(dim=1) if self.pool == 'avg' else y.amax(dim=1)
                rows.append(y.reshape(y.shape[0], -1).float().numpy())
        return np.concatenate(rows)


def weights_from_env(default: str | None = 'DEFAULT') -> str | None:
    """Weights for registry-built extractors: ``$SORTING_CELL_TORCHVISION_WEIGHTS`` or default."""
    value = os.environ.get(ENV_WEIGHTS)
    if value is None or value == '':
        return default
    return None if value.lower() in ('none', 'null', 'random') else value
