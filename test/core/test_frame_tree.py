"""FrameTree: chained lookups, re-parenting, loops and unknown frames."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from sorting_cell.frame_tree import FrameLookupError, FrameTree
from sorting_cell.transforms import invert, make_transform


def _pose(seed):
    rng = np.random.default_rng(seed)
    return make_transform(Rotation.random(random_state=rng).as_matrix(), rng.normal(size=3))


def test_lookup_chains_through_the_common_ancestor():
    A, B, C, D = (_pose(i) for i in range(4))
    tree = FrameTree()
    tree.set('world', 'base', A, static=True)
    tree.set('base', 'table', B, static=True)
    tree.set('table', 'camera', C, static=True)
    tree.set('base', 'tcp', D, stamp=1.5)
    np.testing.assert_allclose(tree.lookup('world', 'camera'), A @ B @ C, atol=1e-12)
    np.testing.assert_allclose(tree.lookup('camera', 'world'), invert(A @ B @ C), atol=1e-12)
    np.testing.assert_allclose(tree.lookup('camera', 'tcp'), invert(B @ C) @ D, atol=1e-12)
    np.testing.assert_allclose(tree.lookup('tcp', 'tcp'), np.eye(4))
    assert tree.edge('tcp').stamp == 1.5 and not tree.edge('tcp').static
    assert tree.frames() == {'world', 'base', 'table', 'camera', 'tcp'}
    # a newer transform replaces the old one (the TCP moves)
    tree.set('base', 'tcp', A, stamp=2.0)
    np.testing.assert_allclose(tree.lookup('base', 'tcp'), A, atol=1e-12)


def test_lookup_errors_say_why():
    tree = FrameTree()
    with pytest.raises(FrameLookupError, match='nothing received'):
        tree.lookup('world', 'camera')
    tree.set('world', 'base', np.eye(4))
    tree.set('map', 'camera', np.eye(4))
    with pytest.raises(FrameLookupError, match="'nope' does not exist; known frames: base"):
        tree.lookup('world', 'nope')
    with pytest.raises(FrameLookupError, match="roots are 'world' and 'map'"):
        tree.lookup('base', 'camera')
    with pytest.raises(FrameLookupError, match='close a loop'):
        tree.set('base', 'world', np.eye(4))
    with pytest.raises(FrameLookupError, match='to itself'):
        tree.set('base', 'base', np.eye(4))
    with pytest.raises(ValueError, match='not a rigid transform'):
        tree.set('world', 'x', np.diag([1.0, 1.0, -1.0, 1.0]))
