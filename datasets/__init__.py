"""Datasets: manifest (public address, layout, citation), fetch/verify, and loaders.

The images are never in the repository: :func:`sorting_cell.assets.resolve` finds a
local copy or downloads them.
"""
