"""On-disk feature cache: hits, misses, corrupt and stale files, concurrent writers."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sorting_cell.features import CachedExtractor, ColorHistogram, FeatureExtractor
from sorting_cell.features.cache import config_hash, image_key


class CountingHistogram(ColorHistogram):
    """A real colour histogram that also counts how many images it computed."""

    def _transform(self, images):
        self.computed_ = getattr(self, 'computed_', 0) + len(images)
        return super()._transform(images)


def _images(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (20 + i, 31, 3), dtype=np.uint8) for i in range(n)]


def _files(root):
    return sorted(p for p in root.rglob('*.npy'))


def test_miss_then_hit(tmp_path):
    inner = CountingHistogram()
    cached = CachedExtractor(inner, tmp_path)
    first = cached.transform(_images())
    assert (cached.n_misses_, cached.n_hits_, inner.computed_) == (4, 0, 4)
    assert len(_files(tmp_path)) == 4
    second = cached.transform(_images()[::-1])
    np.testing.assert_array_equal(second, first[::-1])
    assert (cached.n_hits_, inner.computed_) == (4, 4)
    # a new image is the only one computed; a fresh wrapper reads the same folder
    other = CachedExtractor(CountingHistogram(), tmp_path)
    other.transform(_images() + _images(1, seed=5))
    assert (other.n_hits_, other.n_misses_) == (4, 1)
    np.testing.assert_array_equal(first, inner.transform(_images()))


def test_key_depends_on_pixels_shape_and_config(tmp_path):
    img = _images(1)[0]
    h = config_hash(ColorHistogram().config())
    assert image_key(img, h) == image_key(img.copy(), h)
    assert image_key(img, h) != image_key(img.reshape(31, -1, 3), h)
    changed = img.copy()
    changed[0, 0, 0] ^= 1
    assert image_key(img, h) != image_key(changed, h)
    assert h != config_hash(ColorHistogram(bins=(4, 4, 4)).config())
    CachedExtractor(ColorHistogram(), tmp_path).transform([img])
    CachedExtractor(ColorHistogram(bins=(4, 4, 4)), tmp_path).transform([img])
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


@pytest.mark.parametrize('damage', ['garbage', 'empty', 'truncated', 'wrong_length', 'nan'])
def test_corrupt_file_is_recomputed_not_fatal(tmp_path, damage):
    inner = CountingHistogram()
    cached = CachedExtractor(inner, tmp_path)
    good = cached.transform(_images())
    victim = _files(tmp_path)[0]
    if damage == 'garbage':
        victim.write_bytes(b'not a numpy file at all')
    elif damage == 'empty':
        victim.write_bytes(b'')
    elif damage == 'truncated':
        victim.write_bytes(victim.read_bytes()[:90])
    elif damage == 'wrong_length':
        np.save(victim, np.zeros(7, np.float32))
    else:
        np.save(victim, np.full(128, np.nan, np.float32))
    again = CachedExtractor(inner, tmp_path)
    np.testing.assert_array_equal(again.transform(_images()), good)
    assert again.n_misses_ >= 1 and inner.computed_ >= 5
    # the damaged entry was rewritten: the next run is all hits
    third = CachedExtractor(inner, tmp_path)
    third.transform(_images())
    assert third.n_hits_ == 4


def test_concurrent_writers_and_readers_agree(tmp_path):
    imgs = _images(12)
    expected = ColorHistogram().transform(imgs)

    def work(k):
        return CachedExtractor(ColorHistogram(), tmp_path).transform(imgs[k % 3:])

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(8)))
    for k, res in enumerate(results):
        np.testing.assert_array_equal(res, expected[k % 3:])
    assert not list(tmp_path.rglob('.tmp-*'))  # no half-written files left behind


def test_unwritable_cache_still_returns_features(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('a file where the cache folder should be')
    with pytest.warns(RuntimeWarning, match='computing features without it'):
        out = CachedExtractor(ColorHistogram(), blocker).transform(_images(1))
    np.testing.assert_array_equal(out, ColorHistogram().transform(_images(1)))
    ro = tmp_path / 'ro'
    ro.mkdir()
    cached = CachedExtractor(ColorHistogram(), ro)
    cached.transform(_images(1))
    for d in ro.rglob('*'):
        if d.is_dir():
            d.chmod(0o500)
    try:
        out = CachedExtractor(ColorHistogram(), ro).transform(_images(2))
        assert out.shape == (2, 128)
    finally:
        for d in ro.rglob('*'):
            if d.is_dir():
                d.chmod(0o700)


def test_cache_config_is_the_inner_config(tmp_path):
    inner = ColorHistogram()
    assert CachedExtractor(inner, tmp_path).config() == inner.config()
    assert isinstance(CachedExtractor(inner, tmp_path), FeatureExtractor)
