"""Transfer-learning bootstrapping: clustering that improves itself from cheap features."""
from .bootstrapping import TransferBootstrap, difference_rate, reliable_mask
from .finetune import EfficientNetLiteTail

__all__ = ['EfficientNetLiteTail', 'TransferBootstrap', 'difference_rate', 'reliable_mask']
