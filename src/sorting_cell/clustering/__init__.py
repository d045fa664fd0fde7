"""Group feature vectors into N boxes, and score the grouping."""
from . import metrics
from .estimator import METHODS, ImageClusterer, check_features
from .metrics import score_all

__all__ = ['ImageClusterer', 'METHODS', 'check_features', 'metrics', 'score_all']
