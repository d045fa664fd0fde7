"""`sorting-cell cluster` fails before it works: output folder, names and permissions are
checked before any image is read; outputs are atomic; EXIF orientation is honoured."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from sorting_cell.cli import main
from sorting_cell.cli.cluster import OUTPUTS
from sorting_cell.images import load_image


@pytest.fixture
def photos(tools_root, tmp_path) -> Path:
    root = tmp_path / 'in'
    root.mkdir()
    for f in sorted((tools_root / 'conditions2' / 'usb').glob('*.jpg'))[:3]:
        shutil.copy(f, root / f.name)
    return root


@pytest.fixture
def no_computation(monkeypatch):
    """A tripwire, not a stand-in: the run must stop before the pipeline reads an image."""
    from sorting_cell.pipeline import SortingPipeline

    def tripped(self, *args, **kwargs):
        raise AssertionError('the images were processed before the outputs were checked')

    monkeypatch.setattr(SortingPipeline, 'sort_images', tripped)


def _cluster(inputs, out, *extra):
    return main(['cluster', *map(str, inputs), '-k', '2', '--out', str(out),
                 '--proposer', 'none', '--features', 'hog', '--no-progress', *extra])


def test_a_directory_named_like_an_output_is_refused_first(photos, tmp_path, capsys,
                                                          no_computation):
    out = tmp_path / 'out'
    (out / 'assignments.csv').mkdir(parents=True)
    assert _cluster([photos], out) == 2
    err = capsys.readouterr().err
    assert 'assignments.csv there is a directory' in err and 'Traceback' not in err


def test_an_unwritable_output_folder_is_refused_first(photos, tmp_path, capsys,
                                                     no_computation):
    if os.geteuid() == 0:
        out = Path('/sys')  # read-only even for root (as a read-only mount would be)
    else:
        out = tmp_path / 'ro'
        out.mkdir()
        out.chmod(0o555)
    assert _cluster([photos], out) == 2
    assert f'--out {out}: cannot write there' in capsys.readouterr().err


def test_a_file_name_that_is_not_utf8_is_refused_first(photos, tmp_path, capsys,
                                                      no_computation):
    first = sorted(photos.glob('*.jpg'))[0]
    odd = os.fsencode(photos) + b'/caf\xe9.jpg'  # Latin-1 bytes, legal on Linux
    try:
        os.rename(first, odd)
    except (OSError, UnicodeEncodeError):
        pytest.skip('this file system refuses non-UTF-8 names')
    out = tmp_path / 'out'
    assert _cluster([photos], out) == 2
    err = capsys.readouterr().err
    assert 'not valid UTF-8' in err and 'caf\\xe9.jpg' in err
    assert not any(out.glob('*.part'))


def test_outputs_of_an_earlier_run_never_look_current(photos, tmp_path, monkeypatch):
    """Ctrl-C during the computation: the folder must not keep the last run's report as if
    it were this one's."""
    from sorting_cell.pipeline import SortingPipeline

    out = tmp_path / 'out'
    out.mkdir()
    for name in OUTPUTS:
        (out / name).write_text('an earlier run')
    (out / 'assignments.csv.part').write_text('')

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt  # the operator's Ctrl-C, while the images are processed

    monkeypatch.setattr(SortingPipeline, 'sort_images', interrupted)
    assert _cluster([photos], out) == 130
    assert sorted(p.name for p in out.iterdir()) == []


def test_an_output_that_fails_to_write_leaves_no_part_file(tmp_path):
    from sorting_cell.cli.cluster import _atomic_write

    target = tmp_path / 'summary.json'
    with pytest.raises(UnicodeEncodeError):
        _atomic_write(target, 'caf\udce9')  # text that cannot be UTF-8
    assert list(tmp_path.iterdir()) == []


def _oriented_png(path: Path, pixels: np.ndarray, orientation: int) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, exif=exif.tobytes())


@pytest.mark.parametrize('orientation', range(1, 9))
def test_exif_orientation_is_honoured_as_pil_does(tmp_path, orientation):
    from PIL import Image, ImageOps

    pixels = np.random.default_rng(orientation).integers(0, 256, (30, 50, 3), np.uint8)
    path = tmp_path / f'o{orientation}.png'
    _oriented_png(path, pixels, orientation)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert('RGB'))
    got = load_image(path)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_a_phone_jpeg_stored_sideways_loads_upright(tmp_path, tools_root):
    from PIL import Image

    src = sorted((tools_root / 'conditions2' / 'usb').glob('*.jpg'))[0]
    upright = load_image(src)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 deg counter-clockwise, as phones held upright do
    sideways = tmp_path / 'phone.jpg'
    Image.fromarray(np.rot90(upright, 1).copy()).save(sideways, quality=95,
                                                      exif=exif.tobytes())
    got = load_image(sideways)
    assert got.shape == upright.shape
    assert np.abs(got.astype(int) - upright).mean() < 4  # JPEG re-encoding only
