"""Handcrafted descriptors on awkward inputs: gray, RGBA, tiny, thin, odd-sized."""
import numpy as np
import pytest
from sklearn.base import clone

from sorting_cell.features import ColorHistogram, GaborFeatures, HOGFeatures, RawPixels
from sorting_cell.features.preprocess import RESIZE_MODES, to_square

EXTRACTORS = {
    'raw': (RawPixels, 32 * 32 * 3),
    'hog': (HOGFeatures, 7 * 7 * 2 * 2 * 9),  # 128 px, 16 px cells, 2x2 blocks
    'gabor': (GaborFeatures, 4 * 6 * 2),
    'colorhist': (ColorHistogram, 8 * 4 * 4),
}


def _inputs():
    rng = np.random.default_rng(0)
    return [
        rng.integers(0, 256, (97, 211, 3), dtype=np.uint8),   # odd size, wide
        rng.integers(0, 256, (301, 13), dtype=np.uint8),      # gray, thin and tall
        rng.integers(0, 256, (5, 7, 4), dtype=np.uint8),      # tiny RGBA
        np.full((64, 64, 3), 200, dtype=np.uint8),            # flat colour
        rng.random((40, 50, 3)),                              # float image in [0, 1]
    ]


@pytest.mark.parametrize('name', sorted(EXTRACTORS))
def test_shapes_dtype_finite_and_deterministic(name):
    cls, dim = EXTRACTORS[name]
    ext = cls()
    X = ext.transform(_inputs())
    assert X.shape == (5, dim) and X.dtype == np.float32
    assert np.isfinite(X).all()
    np.testing.assert_array_equal(X, clone(ext).transform(_inputs()))


def test_descriptors_tell_textures_and_colours_apart():
    """Each descriptor separates what it is meant to: stripes' orientation, hue."""
    yy, xx = np.mgrid[:128, :128]
    vertical = np.repeat((((xx // 4) % 2) * 255).astype(np.uint8)[:, :, None], 3, 2)
    horizontal = np.ascontiguousarray(vertical.transpose(1, 0, 2))
    noisy = np.clip(vertical.astype(int) + np.random.default_rng(1).integers(
        -30, 30, vertical.shape), 0, 255).astype(np.uint8)
    for ext in (HOGFeatures(), GaborFeatures()):
        v, h, n = ext.transform([vertical, horizontal, noisy])
        assert np.linalg.norm(v - n) < 0.75 * np.linalg.norm(v - h), type(ext).__name__
    red = np.zeros((50, 50, 3), np.uint8)
    red[..., 0] = 220
    blue = red[..., ::-1].copy()
    r, b, r2 = ColorHistogram().transform([red, blue, red[:20]])
    np.testing.assert_allclose(r, r2)
    assert np.abs(r - b).sum() == pytest.approx(2.0)  # disjoint histograms
    np.testing.assert_allclose(r.sum(), 1.0, rtol=1e-6)


def test_bad_parameters_are_clear_errors():
    img = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(ValueError, match='size must be an integer'):
        RawPixels(size=0).transform([img])
    with pytest.raises(ValueError, match='smaller than one HOG block'):
        HOGFeatures(size=16).transform([img])
    with pytest.raises(ValueError, match='frequencies'):
        GaborFeatures(frequencies=(0.9,)).transform([img])
    with pytest.raises(ValueError, match='colour space'):
        ColorHistogram(space='cmyk').transform([img])
    with pytest.raises(ValueError, match='resize mode'):
        RawPixels(resize='zoom').transform([img])


@pytest.mark.parametrize('mode', RESIZE_MODES)
@pytest.mark.parametrize('shape', [(30, 90, 3), (90, 30), (1, 1, 3), (224, 224, 3)])
def test_to_square_keeps_size_and_channels(mode, shape):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = to_square(img, 64, mode)
    assert out.shape == (64, 64) + shape[2:] and out.dtype == np.uint8


def test_pad_keeps_aspect_ratio():
    img = np.zeros((20, 100, 3), np.uint8)
    img[:, :, 1] = 255
    img[5:15, 40:60] = 0
    out = to_square(img, 100, 'pad_gray')
    assert (out[:40] == 128).all() and (out[60:] == 128).all()  # bands above and below
    assert (out[40:60, :, 1] == 255).mean() > 0.7
