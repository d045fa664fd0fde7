"""Describe images as vectors: pretrained CNNs (LiteRT, torchvision) and handcrafted."""
from .base import FeatureExtractor, as_image_list

__all__ = ['FeatureExtractor', 'as_image_list', 'make_extractor']


def make_extractor(spec, cache_dir=None) -> FeatureExtractor:
    """An extractor from a registry name (see module docs), or ``spec`` if it is one."""
    raise NotImplementedError  # filled in by the features work
