"""``sorting-cell cluster -k auto`` and ``--into``: a first sort, then more objects."""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sorting_cell.cli import main
from sorting_cell.perception.boxes import BOXES_FILE, Boxes


def _rows(path: Path) -> list[dict]:
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def _copy(src: Path, dst: Path, names) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(src / name, dst / name)


@pytest.fixture(scope='module')
def batches(tools_root, tmp_path_factory):
    """Condition 2: objects 1-2 of clamp and flat first; then objects 3-4 of both and usb."""
    root = tmp_path_factory.mktemp('batches')
    c2 = tools_root / 'conditions2'
    for kind in ('clamp', 'flat'):
        shots = sorted(p.name for p in (c2 / kind).glob('*.jpg'))
        _copy(c2 / kind, root / 'first' / kind, [s for s in shots if s[0] in '12'])
        _copy(c2 / kind, root / 'second' / kind, [s for s in shots if s[0] in '34'])
    _copy(c2 / 'usb', root / 'second' / 'usb',
          sorted(p.name for p in (c2 / 'usb').glob('*.jpg'))[:8])
    return root


@pytest.fixture(scope='module')
def first_run(batches, tmp_path_factory):
    out = tmp_path_factory.mktemp('first')
    code = main(['cluster', str(batches / 'first'), '-k', 'auto', '--out', str(out),
                 '--truth-from-parent-dir', '--no-progress'])
    return code, out


def test_k_auto_finds_the_two_kinds_and_reports_the_curve(first_run):
    code, out = first_run
    assert code == 0
    s = json.loads((out / 'summary.json').read_text())
    assert s['k'] == 2 and s['metrics']['nmi'] == 1.0
    chosen = s['decisions']['number_of_groups']['evidence']
    assert chosen['k'] == 2 and set(chosen['curve']) == {str(k) for k in range(2, 13)}
    assert 'number of groups' in (out / 'report.html').read_text()


def test_every_run_keeps_its_boxes(first_run):
    _, out = first_run
    boxes = Boxes.load(out / BOXES_FILE)
    rows = _rows(out / 'assignments.csv')
    assert boxes.k == 2 and len(boxes.rows) == len(rows)
    assert boxes.labels.tolist() == [int(r['cluster']) for r in rows]
    assert boxes.params['features'] == 'mobilenet_v2_tf2' and boxes.rows.shape[1] >= 1280


def test_into_places_seen_kinds_and_flags_the_unseen_one(batches, first_run, tmp_path):
    _, first = first_run
    out = tmp_path / 'second'
    assert main(['cluster', str(batches / 'second'), '--into', str(first), '--out', str(out),
                 '--no-progress']) == 0
    box_of = {}
    for r in _rows(first / 'assignments.csv'):
        box_of.setdefault(Path(r['path']).parent.name, set()).add(r['cluster'])
    rows = _rows(out / 'assignments.csv')
    for r in rows:
        kind = Path(r['path']).parent.name
        if kind == 'usb':
            assert r['cluster'] == '2' and r['reason'].startswith('new kind'), r
        else:
            assert {r['cluster']} == box_of[kind] and r['reason'] == '', r
    s = json.loads((out / 'summary.json').read_text())
    assert s['into']['new_kind'] == 8 and s['into']['boxes'] == 2
    # Chained: the placed objects joined the boxes, the new kind did not.
    placed = sum(1 for r in rows if not r['reason'])
    assert placed == len(rows) - 8
    assert len(Boxes.load(out / BOXES_FILE).rows) == len(Boxes.load(first / BOXES_FILE).rows) \
        + placed


def test_into_describes_new_images_as_the_boxes_were(batches, tmp_path):
    first, again = tmp_path / 'first', tmp_path / 'again'
    assert main(['cluster', str(batches / 'first'), '-k', '2', '--proposer', 'none',
                 '--no-turn', '--out', str(first), '--no-progress']) == 0
    boxes = Boxes.load(first / BOXES_FILE)
    assert boxes.params['turn'] is False and boxes.params['normalize'] == 'whitened'
    # The same images again, with no flags: each must come out as the very row it had.
    assert main(['cluster', str(batches / 'first'), '--into', str(first), '--out', str(again),
                 '--no-progress']) == 0
    new = Boxes.load(again / BOXES_FILE).rows[len(boxes.rows):]
    assert len(new) > 0
    gaps = np.linalg.norm(new[:, None, :] - boxes.rows[None], axis=2).min(axis=1)
    assert gaps.max() < 1e-4


@pytest.mark.parametrize('argv, message', [
    (['-k', '3', '--into', 'x'], '-k and --into exclude each other'),
    ([], '-k is required'),
    (['--into', '/nonexistent'], 'no such file'),
    (['-k', '3', '--k-max', '5'], '--k-max is only used with -k auto'),
    (['-k', 'auto', '--k-max', '1'], '--k-max must be >= 2'),
])
def test_usage_errors(batches, tmp_path, capsys, argv, message):
    out = tmp_path / 'out'
    assert main(['cluster', str(batches / 'first'), '--out', str(out), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
