"""Bad and unusual image files: a clear error or the documented conversion, never a crash.

The conversions are documented in :mod:`sorting_cell.images`; the good files are real
photos from the tool dataset, the odd ones are made from them.
"""
import csv
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from sorting_cell import SortingPipeline
from sorting_cell.cli import main
from sorting_cell.images import MAX_SIDE, ImageLoadError, load_image

BAD = {  # file -> the reason load_image gives
    'truncated.jpg': 'not a decodable image',
    'empty.jpg': 'file is empty (0 bytes)',
    'notes.jpg': 'not a decodable image',
}
CONVERTED = ('gray.png', 'rgba.png', 'deep16.png', 'huge.jpg')


@pytest.fixture(scope='module')
def photos(tools_root) -> list[Path]:
    """Six real photos: three clamps and three USB sticks (condition 1)."""
    c1 = tools_root / 'conditions1'
    return (sorted((c1 / 'clamp').glob('*.jpg'))[:3] + sorted((c1 / 'usb').glob('*.jpg'))[:3])


@pytest.fixture(scope='module')
def mixed(photos, tmp_path_factory) -> Path:
    """A folder of good photos, bad files, odd formats and one non-image file."""
    d = tmp_path_factory.mktemp('mixed')
    for p in photos:
        shutil.copy(p, d / f'good_{p.parent.name}_{p.name}')
    raw = photos[0].read_bytes()
    (d / 'truncated.jpg').write_bytes(raw[:len(raw) // 2])
    (d / 'empty.jpg').write_bytes(b'')
    (d / 'notes.jpg').write_text('shopping list: screws, pens\n')  # a .txt renamed .jpg
    bgr = cv2.imread(str(photos[3]))
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    assert cv2.imwrite(str(d / 'gray.png'), gray)
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    bgra[:, : bgr.shape[1] // 2, 3] = 0  # left half fully transparent
    assert cv2.imwrite(str(d / 'rgba.png'), bgra)
    assert cv2.imwrite(str(d / 'deep16.png'), bgr.astype(np.uint16) * 257)
    huge = cv2.resize(gray, (9000, 7000), interpolation=cv2.INTER_NEAREST)
    assert cv2.imwrite(str(d / 'huge.jpg'), huge, [cv2.IMWRITE_JPEG_QUALITY, 70])
    (d / 'README.md').write_text('not an image suffix: ignored by the CLI\n')
    return d


@pytest.mark.parametrize('name', sorted(BAD))
def test_unreadable_files_raise_image_load_error(mixed, name):
    with pytest.raises(ImageLoadError, match=re.escape(BAD[name])) as exc:
        load_image(mixed / name)
    assert exc.value.source == str(mixed / name)
    assert str(mixed / name) in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageLoadError, match='file does not exist'):
        load_image(tmp_path / 'nope.jpg')
    with pytest.raises(ImageLoadError, match='is a directory'):
        load_image(tmp_path)


def test_grayscale_png_is_replicated_to_rgb(mixed):
    img = load_image(mixed / 'gray.png')
    gray = cv2.imread(str(mixed / 'gray.png'), cv2.IMREAD_UNCHANGED)
    assert gray.ndim == 2 and img.shape == gray.shape + (3,) and img.dtype == np.uint8
    for ch in range(3):
        assert np.array_equal(img[:, :, ch], gray)


def test_rgba_png_is_composited_over_white(mixed, photos):
    img = load_image(mixed / 'rgba.png')
    rgb = cv2.cvtColor(cv2.imread(str(photos[3])), cv2.COLOR_BGR2RGB)
    half = rgb.shape[1] // 2
    assert img.shape == rgb.shape
    assert (img[:, :half] == 255).all()  # transparent -> table white
    assert np.array_equal(img[:, half:], rgb[:, half:])  # opaque -> unchanged, RGB order


def test_16_bit_png_is_scaled_to_8_bits(mixed, photos):
    deep = cv2.imread(str(mixed / 'deep16.png'), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.max() > 255
    img = load_image(mixed / 'deep16.png')
    rgb = cv2.cvtColor(cv2.imread(str(photos[3])), cv2.COLOR_BGR2RGB)
    assert img.dtype == np.uint8 and np.array_equal(img, rgb)  # v * 257 -> v exactly


def test_huge_image_is_downscaled_to_max_side(mixed):
    img = load_image(mixed / 'huge.jpg')
    assert max(img.shape[:2]) == MAX_SIDE
    assert img.shape == (round(7000 * MAX_SIDE / 9000), MAX_SIDE, 3)


def test_pipeline_fewer_usable_images_than_k(mixed, photos):
    pipe = SortingPipeline(n_clusters=5, features='colorhist', proposer='none')
    with pytest.raises(ValueError, match=r'found 2 usable object\(s\) but 5 boxes .*'
                                         r'\(2 input\(s\) failed to load\)'):
        pipe.sort_images([photos[0], mixed / 'empty.jpg', photos[1], mixed / 'notes.jpg'])


@pytest.mark.parametrize('k', [0, -1])
def test_pipeline_k_below_one(photos, k):
    with pytest.raises(ValueError, match='must be >= 1'):
        SortingPipeline(n_clusters=k, features='colorhist', proposer='none').sort_images(
            photos[:2])


def test_pipeline_keeps_going_past_bad_images(mixed, photos):
    paths = [photos[0], mixed / 'truncated.jpg', photos[4], mixed / 'empty.jpg']
    result = SortingPipeline(n_clusters=2, features='colorhist', proposer='none',
                             random_state=0).sort_images(paths)
    assert [it.error is None for it in result.items] == [True, False, True, False]
    assert result.labels.tolist()[1::2] == [-1, -1]
    assert sorted(result.labels[::2].tolist()) == [0, 1]
    assert 'not a decodable image' in result.items[1].error


@pytest.mark.parametrize('k', ['0', '-3'])
def test_cli_k_below_one(mixed, tmp_path, capsys, k):
    assert main(['cluster', str(mixed), '-k', k, '--out', str(tmp_path / 'o')]) == 2
    assert '-k must be >= 1' in capsys.readouterr().err


def test_cli_fewer_usable_images_than_k_keeps_the_listing(mixed, photos, tmp_path, capsys):
    out = tmp_path / 'o'
    out.mkdir()
    (out / 'report.html').write_text('from an earlier run')  # must not survive
    files = [photos[0], mixed / 'empty.jpg', photos[1], mixed / 'notes.jpg']
    code = main(['cluster', *map(str, files), '-k', '3', '--out', str(out), '--features',
                 'colorhist', '--proposer', 'none'])
    assert code == 2
    err = capsys.readouterr().err
    assert 'found 2 usable object(s) but 3 boxes' in err and 'assignments.csv' in err
    with open(out / 'assignments.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [r['path'] for r in rows] == list(map(str, files))
    assert all(r['cluster'] == '' for r in rows)
    assert rows[1]['reason'] == 'file is empty (0 bytes)'
    assert rows[3]['reason'].startswith('not a decodable image')
    assert rows[0]['reason'].startswith('not clustered: found 2 usable object(s)')
    assert sorted(p.name for p in out.iterdir()) == ['assignments.csv']


def test_cli_mixed_folder_writes_everything_and_explains_bad_rows(mixed, tmp_path, capsys):
    out = tmp_path / 'out'
    code = main(['cluster', str(mixed), '-k', '2', '--out', str(out), '--proposer', 'none',
                 '--no-progress'])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert '3 input(s) could not be used' in captured.err
    with open(out / 'assignments.csv', newline='') as f:
        rows = {Path(r['path']).name: r for r in csv.DictReader(f)}
    assert 'README.md' not in rows
    assert len(rows) == 6 + len(BAD) + len(CONVERTED)
    for name, reason in BAD.items():
        assert rows[name]['cluster'] == '' and rows[name]['reason'].startswith(reason), name
    for name in rows.keys() - BAD.keys():
        assert rows[name]['cluster'] in ('0', '1') and rows[name]['reason'] == '', name
    # Real photos: the clamps and the USB sticks end up apart.
    clamps = {rows[n]['cluster'] for n in rows if n.startswith('good_clamp')}
    usbs = {rows[n]['cluster'] for n in rows if n.startswith('good_usb')}
    assert len(clamps) == 1 and len(usbs) == 1 and clamps != usbs
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['counts']['failed'] == 3 and summary['counts']['clustered'] == 10
    assert summary['counts']['ignored non-image files'] == 1
    page = (out / 'report.html').read_text()
    assert 'Not clustered (3)' in page and 'Clusters vs classes' not in page
    for name in BAD:
        assert name in page
    assert 'file is empty (0 bytes)' in page
    assert cv2.imread(str(out / 'clusters.png')) is not None


def test_cli_degenerate_but_valid_images_are_clustered(photos, tmp_path):
    # A 1x1 pixel, a 1x3000 sliver and a flat black square decode fine; object finding
    # and features must cope (default proposer: sizes differ, so no background model).
    d = tmp_path / 'odd'
    d.mkdir()
    assert cv2.imwrite(str(d / 'dot.png'), np.full((1, 1, 3), 128, np.uint8))
    assert cv2.imwrite(str(d / 'sliver.png'), np.full((1, 3000, 3), 90, np.uint8))
    assert cv2.imwrite(str(d / 'black.png'), np.zeros((50, 50, 3), np.uint8))
    out = tmp_path / 'out'
    code = main(['cluster', str(d), *map(str, photos[:2]), '-k', '2', '--out', str(out),
                 '--no-progress'])
    assert code == 0
    with open(out / 'assignments.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and all(r['cluster'] in ('0', '1') for r in rows), rows
