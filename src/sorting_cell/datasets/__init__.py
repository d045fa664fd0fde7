"""Datasets: manifest (public address, layout, citation), fetch/verify, and loaders.

The images are never in the repository: :func:`sorting_cell.assets.resolve` finds a
local copy or downloads, verifies and unpacks them (``sorting-cell fetch tools``).
"""
from .folder import find_images
from .manifest import manifest
from .tools import ToolImage, load_tools, tools_root

__all__ = ['find_images', 'manifest', 'ToolImage', 'load_tools', 'tools_root']
