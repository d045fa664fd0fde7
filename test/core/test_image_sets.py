"""The built image sets are seeded: one seed, one set; each class folder is full."""
import numpy as np

from sorting_cell.bench.image_sets import GLYPHS, build_image_set
from sorting_cell.images import load_image


def test_glyphs_are_seeded_upright_letters_in_ink(tmp_path):
    a, b, c = tmp_path / 'a', tmp_path / 'b', tmp_path / 'c'
    assert build_image_set('glyphs', a, seed=3) == 50 * len(GLYPHS)
    build_image_set('glyphs', b, seed=3)
    build_image_set('glyphs', c, seed=4)
    assert sorted(p.name for p in a.iterdir()) == sorted(GLYPHS)
    names = sorted(p.relative_to(a) for p in a.glob('*/*.png'))
    assert names == sorted(p.relative_to(b) for p in b.glob('*/*.png'))
    same = [np.array_equal(load_image(a / n), load_image(b / n)) for n in names[::25]]
    other = [np.array_equal(load_image(a / n), load_image(c / n)) for n in names[::25]]
    assert all(same) and not any(other)
    for n in names[::25]:   # every font drew the letter: dark ink on the light ground
        im = load_image(a / n).astype(int).sum(axis=2) / 3
        assert (im < 100).mean() > 0.02 and np.median(im) > 140
