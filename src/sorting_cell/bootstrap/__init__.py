"""Transfer-learning bootstrapping: clustering that improves itself from cheap features."""
from .bootstrapping import TransferBootstrap, difference_rate, reliable_mask

__all__ = ['TransferBootstrap', 'difference_rate', 'reliable_mask']
