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


def test_fashion_draws_each_kind_large_from_the_packages_json(tmp_path):
    import json

    from sorting_cell.bench.image_sets import FASHION
    src = tmp_path / 'clothes'   # the npm package's layout: src/clothes/<label>.json
    src.mkdir()
    rng = np.random.default_rng(0)
    for c in range(len(FASHION)):
        rows = rng.integers(0, 256, (70, 784)).tolist()
        (src / f'{c}.json').write_text(json.dumps({'data': rows}))
    a, b = tmp_path / 'a', tmp_path / 'b'
    assert build_image_set('fashion', a, seed=1, root=src) == 60 * len(FASHION)
    build_image_set('fashion', b, seed=2, root=src)
    assert sorted(p.name for p in a.iterdir()) == sorted(FASHION)
    im = load_image(next((a / 'bag').glob('*.png')))
    assert im.shape == (112, 112, 3)
    assert sorted(p.name for p in (a / 'bag').glob('*.png')) != \
        sorted(p.name for p in (b / 'bag').glob('*.png'))
