"""Find the objects in a frame: masks, boxes and crops."""
from .base import Proposer, Region, crop_region

__all__ = ['Proposer', 'Region', 'crop_region', 'make_proposer', 'PROPOSERS']

PROPOSERS = ('background', 'saliency', 'none')


def make_proposer(spec) -> Proposer:
    """A proposer from a registry name, or ``spec`` itself if it already is one."""
    if isinstance(spec, Proposer):
        return spec
    if spec in (None, 'none'):
        from .whole import WholeFrame
        return WholeFrame()
    if spec == 'background':
        from .background import BackgroundProposer
        return BackgroundProposer()
    if spec == 'saliency':
        from .saliency import SaliencyProposer
        return SaliencyProposer()
    raise ValueError(f'unknown proposer {spec!r}; choose one of {", ".join(PROPOSERS)}')
