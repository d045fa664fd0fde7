"""sorting_cell: sort unknown objects into N boxes by what they look like.

The core (this package minus ``sorting_cell.nodes``) never imports rclpy.
"""
from .images import ImageLoadError, load_image
from .pipeline import Item, SortingPipeline, SortResult

__all__ = ['SortingPipeline', 'SortResult', 'Item', 'load_image', 'ImageLoadError']
__version__ = '0.1.0'
