"""Dataset loaders: the tool dataset's ground truth, and folders of images."""
import pytest

from sorting_cell.datasets import find_images, load_tools


def test_tool_dataset_layout(tools_root):
    images = load_tools(tools_root)
    assert len(images) == 560
    assert len({im.object_id for im in images}) == 28
    assert {im.label for im in images} == {'allen', 'clamp', 'driver', 'flat', 'pen', 'screw',
                                           'usb'}
    per_object = {}
    for im in images:
        per_object.setdefault(im.object_id, set()).add((im.condition, im.shot))
    assert all(len(v) == 20 for v in per_object.values())


def test_one_condition_and_incomplete_copy(tools_root, tmp_path):
    assert len(load_tools(tools_root, conditions=[4])) == 112
    with pytest.raises(FileNotFoundError, match='not the tool dataset'):
        load_tools(tmp_path)


def test_find_images_recurses_and_keeps_named_files(tmp_path):
    (tmp_path / 'a' / 'b').mkdir(parents=True)
    for name in ['a/x.jpg', 'a/b/y.PNG', 'a/notes.txt']:
        (tmp_path / name).write_bytes(b'.')
    (tmp_path / 'odd.dat').write_bytes(b'.')
    found = find_images([tmp_path / 'a', tmp_path / 'odd.dat'])
    assert [p.name for p in found] == ['y.PNG', 'x.jpg', 'odd.dat']
    with pytest.raises(FileNotFoundError):
        find_images([tmp_path / 'missing'])
