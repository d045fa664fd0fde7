"""What a clustering run leaves behind for people: a contact sheet and an HTML report."""
from .contact_sheet import SheetRow, contact_sheet, encode_image, save_png, thumbnail
from .html import ClusterView, Member, render_html

__all__ = ['SheetRow', 'contact_sheet', 'thumbnail', 'save_png', 'encode_image',
           'ClusterView', 'Member', 'render_html']
