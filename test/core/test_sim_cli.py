"""``sorting-cell sim render``: pictures and an animation of a (short) sort are written."""
import json

import numpy as np
import pytest

pytest.importorskip('mujoco')
pytest.importorskip('mink')

from sorting_cell.cli import main  # noqa: E402


def test_render_writes_before_after_and_animation(tmp_path):
    out = tmp_path / 'render'
    code = main(['sim', 'render', '--out', str(out), '--sort', 'truth', '--boxes', '2',
                 '--objects', '4', '--seed', '1', '--max-picks', '1', '--size', '96',
                 '--fps', '4', '--speedup', '4'])
    assert code == 0
    for name in ('tray_before.png', 'tray_after.png', 'before_after.png', 'cell_before.png',
                 'cell_after.png', 'sort.gif', 'summary.json'):
        assert (out / name).stat().st_size > 200, name
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['picked_ok'] == 1
    # the picked object really is in its box and no longer on the tray
    assert sum(summary['box_contents']['box0'].values()) == 1
    assert summary['left_on_table'] == 3
    assert summary['box_purity_by_family'] == 1.0
    import imageio.v3 as iio
    frames = iio.imread(out / 'sort.gif')
    assert frames.shape[0] == summary['animation_frames'] > 5
    assert frames.shape[1] == 96
    before, after = iio.imread(out / 'tray_before.png'), iio.imread(out / 'tray_after.png')
    assert np.abs(before.astype(int) - after.astype(int)).max(axis=2).astype(bool).mean() > 0.003


@pytest.mark.parametrize('argv, message', [
    (['--fps', '0'], '--fps'),
    (['--boxes', '0'], 'num_boxes'),
    (['--families', 'spoon'], 'unknown object families'),
])
def test_render_usage_errors(tmp_path, capsys, argv, message):
    assert main(['sim', 'render', '--out', str(tmp_path / 'x'), *argv]) == 2
    assert message in capsys.readouterr().err


def test_render_usage_errors_for_a_bad_world(tmp_path, capsys):
    assert main(['sim', 'render', '--out', str(tmp_path / 'x'),
                 '--world', str(tmp_path / 'no_such_folder')]) == 2
    assert 'not a folder' in capsys.readouterr().err


@pytest.mark.parametrize('layout, message', [
    ({}, 'no category folders'),
    ({'cups/a/notes.txt': 'hello'}, 'no mesh file'),
    ({'cups/a/m.obj': 'v 0 0 0\n'}, 'no triangle'),
])
def test_bench_rejects_a_bad_objects_folder_before_launching(tmp_path, capsys, layout,
                                                            message, monkeypatch):
    monkeypatch.setenv('SORTING_CELL_CACHE', str(tmp_path / 'cache'))
    root = tmp_path / 'mine'
    root.mkdir()
    for rel, text in layout.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    assert main(['sim', 'bench', '--objects', str(root), '--out', str(tmp_path / 'b')]) == 2
    err = capsys.readouterr().err
    assert message in err
    # nothing was launched: no node logs
    assert not (tmp_path / 'b' / 'logs').exists()


def test_demo_runs_the_bench_with_every_option_the_bench_reads(tmp_path):
    # The demo once built the bench's options by hand and lost one added later
    # ('fresh_cell'): the main job then failed at once.
    import argparse

    from sorting_cell.cli.demo import bench_args
    from sorting_cell.cli.sim_bench import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser.add_subparsers())
    full = vars(parser.parse_args(['bench', '--out', str(tmp_path)]))
    demo = vars(bench_args(3, tmp_path))
    assert demo.keys() == full.keys()
    assert demo['objects'] == 'tools' and demo['trays'] == 1 and demo['seed'] == 3
    assert demo['animation'] and demo['out'] == tmp_path
