"""Group feature vectors into N boxes, and score the grouping."""
from .estimator import METHODS, ImageClusterer, check_features

__all__ = ['ImageClusterer', 'METHODS', 'check_features']
