"""``sorting-cell cluster`` end to end on real tool photos, and its usage errors."""
import csv
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from sorting_cell.cli import main
from sorting_cell.cli.cluster import OUTPUTS, collect_inputs
from sorting_cell.clustering.metrics import score_all
from sorting_cell.pipeline import DEFAULT_FEATURES
from sorting_cell.report import ClusterView, Member, SheetRow, contact_sheet, render_html

CLASSES = ('clamp', 'flat', 'usb')
PER_CLASS = 8


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope='module')
def tool_subset(tools_root, tmp_path_factory) -> Path:
    """24 real photos: 8 shots each of three tool classes, condition 2, class folders."""
    root = tmp_path_factory.mktemp('tools')
    for cls in CLASSES:
        (root / cls).mkdir()
        for f in sorted((tools_root / 'conditions2' / cls).glob('*.jpg'))[:PER_CLASS]:
            shutil.copy(f, root / cls / f.name)
    (root / 'README.txt').write_text('not an image: ignored, not listed\n')
    return root


@pytest.fixture(scope='module')
def run_subset(tool_subset, tmp_path_factory):
    out = tmp_path_factory.mktemp('run') / 'nested' / 'out'  # created by the CLI
    code = main(['cluster', str(tool_subset), '-k', '3', '--out', str(out),
                 '--truth-from-parent-dir', '--proposer', 'none', '--thumbs-per-row', '5',
                 '--no-progress'])
    return code, out


def test_run_writes_every_output(run_subset):
    code, out = run_subset
    assert code == 0
    for name in OUTPUTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not list(out.glob('*.part'))


def test_assignments_one_row_per_image_in_input_order(run_subset, tool_subset):
    _, out = run_subset
    rows = _read_csv(out / 'assignments.csv')
    expected = [str(p) for cls in CLASSES for p in sorted((tool_subset / cls).glob('*.jpg'))]
    assert [r['path'] for r in rows] == expected
    assert {r['cluster'] for r in rows} == {'0', '1', '2'}
    assert all(r['reason'] == '' for r in rows)


def test_ground_truth_scores_match_the_csv(run_subset):
    _, out = run_subset
    summary = json.loads((out / 'summary.json').read_text())
    rows = _read_csv(out / 'assignments.csv')
    truth = [Path(r['path']).parent.name for r in rows]
    recomputed = score_all(truth, [int(r['cluster']) for r in rows])
    for name, value in recomputed.items():
        assert summary['metrics'][name] == pytest.approx(value), name
    # Three distinct tool classes, whole photos, MobileNetV2: separated (measured: 1.0).
    assert summary['metrics']['nmi'] > 0.9 and summary['metrics']['acc'] > 0.9
    assert 0 < summary['metrics']['ndbi'] <= 1
    assert summary['counts'] == {'inputs': 24, 'clustered': 24, 'failed': 0,
                                 'ignored non-image files': 1, 'whole-frame fallbacks': 0,
                                 'classes (parent folders)': 3}
    assert sorted(m for c in summary['clusters'] for m in c['members']) == sorted(
        r['path'] for r in rows)
    for c in summary['clusters']:
        assert {int(r['cluster']) for r in rows if r['path'] in c['members']} == {c['cluster']}
    assert set(summary['timings']) >= {'load', 'features', 'clustering', 'total', 'wall'}
    command = summary['parameters']['command']
    assert command.startswith('sorting-cell cluster ') and '--truth-from-parent-dir' in command
    assert '-k 3' in command and '--proposer none' in command


def test_contact_sheet_has_a_row_per_cluster(run_subset):
    _, out = run_subset
    sheet = cv2.imread(str(out / 'clusters.png'))
    assert sheet is not None
    # 3 rows; 5 tiles per row (4 thumbnails + '+N more', clusters have 8 members).
    h, w = sheet.shape[:2]
    assert w == 150 + 5 * (96 + 6) + 6
    assert 3 * 96 < h < 3 * 200


def test_html_report_is_self_contained(run_subset):
    _, out = run_subset
    page = (out / 'report.html').read_text()
    for c in range(3):
        assert f'id="cluster-{c}"' in page
    assert page.count('src="data:image/jpeg;base64,') == 24
    assert re.findall(r'src="(?!data:)', page) == []  # nothing to fetch from elsewhere
    assert '<th>nmi</th>' in page and '<th>ndbi</th>' in page
    assert 'Every input was clustered.' in page
    # Contingency table: every class column, and each cluster's 8 images in bold.
    table = page.split('Clusters vs classes', 1)[1].split('</table>', 1)[0]
    assert all(f'<th>{c}</th>' in table for c in CLASSES)
    assert table.count('<b>8</b>') == 3


def test_default_settings_find_the_objects(tool_subset, tmp_path):
    # Defaults: the embedded MobileNetV2 (TF2 int8) on the upright object found against the
    # learned background -- decided from the frames (one camera, one table, objects at
    # varying places) and reported --, agglomerative clustering.
    out = tmp_path / 'out'
    assert main(['cluster', str(tool_subset), '-k', '3', '--out', str(out),
                 '--truth-from-parent-dir', '--no-progress']) == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['parameters']['proposer'] == 'auto'
    decided = summary['decisions']
    assert decided['fixed_camera']['value'] and decided['objects']['value']
    assert decided['geometry']['value'] and not decided['geometry']['forced']
    assert 'neighbour_ratio' in decided['geometry']['evidence']
    assert 'Decisions (from the images)' in (out / 'report.html').read_text()
    assert summary['parameters']['features'] == DEFAULT_FEATURES == 'mobilenet_v2_tf2'
    assert summary['metrics']['nmi'] > 0.9  # measured 1.0 on conditions 1-5
    assert summary['counts']['whole-frame fallbacks'] <= 2


def test_repeat_run_with_feature_cache_is_identical(tool_subset, tmp_path):
    files = [str(p) for cls in ('clamp', 'usb') for p in sorted((tool_subset / cls).glob(
        '*.jpg'))[:4]]
    argv = ['cluster', *files, '-k', '2', '--method', 'kmeans', '--seed', '3', '--proposer',
            'none', '--cache', str(tmp_path / 'cache')]
    assert main([*argv, '--out', str(tmp_path / 'a')]) == 0
    assert any((tmp_path / 'cache').rglob('*')), 'nothing was cached'
    assert main([*argv, '--out', str(tmp_path / 'b')]) == 0
    first = (tmp_path / 'a' / 'assignments.csv').read_text()
    assert first == (tmp_path / 'b' / 'assignments.csv').read_text()
    assert len({r['cluster'] for r in _read_csv(tmp_path / 'a' / 'assignments.csv')[:4]}) == 1


def test_progress_bars_on_request(tool_subset, tmp_path, capsys):
    files = [str(p) for p in sorted((tool_subset / 'usb').glob('*.jpg'))[:4]]
    code = main(['cluster', *files, '-k', '2', '--out', str(tmp_path), '--features',
                 'colorhist', '--proposer', 'none', '--progress'])
    err = capsys.readouterr().err
    assert code == 0
    assert 'load' in err and '4/4' in err


@pytest.mark.parametrize('argv, message', [
    (['-k', '0'], '-k must be >= 1'),
    (['-k', '-2'], '-k must be >= 1'),
    (['-k', '2', '--method', 'kmeans++'], "unknown clustering method 'kmeans++'"),
    (['-k', '2', '--features', 'resnet9000'], "unknown feature extractor 'resnet9000'"),
    (['-k', '2', '--proposer', 'magic'], "unknown proposer 'magic'"),
    (['-k', '2', '--thumbs-per-row', '1'], '--thumbs-per-row must be >= 2'),
])
def test_usage_errors_exit_2_before_reading_images(tool_subset, tmp_path, capsys, argv,
                                                   message):
    out = tmp_path / 'out'
    assert main(['cluster', str(tool_subset), '--out', str(out), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_no_inputs_found(tmp_path, capsys):
    (tmp_path / 'in').mkdir()
    (tmp_path / 'in' / 'notes.txt').write_text('x')
    assert main(['cluster', str(tmp_path / 'in'), '-k', '2', '--out',
                 str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err
    assert 'no image files found' in err and 'ignored 1 other file' in err


def test_fewer_files_than_k(tool_subset, tmp_path, capsys):
    files = [str(p) for p in sorted((tool_subset / 'usb').glob('*.jpg'))[:2]]
    assert main(['cluster', *files, '-k', '3', '--out', str(tmp_path / 'o')]) == 2
    assert 'found 2 image file(s) but -k 3 groups' in capsys.readouterr().err


def test_out_is_a_file(tool_subset, tmp_path, capsys):
    (tmp_path / 'taken').write_text('x')
    assert main(['cluster', str(tool_subset), '-k', '2', '--out',
                 str(tmp_path / 'taken')]) == 2
    assert 'exists and is not a directory' in capsys.readouterr().err


def test_k_not_an_integer_is_argparse_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(['cluster', str(tmp_path), '-k', 'three', '--out', str(tmp_path)])
    assert exc.value.code == 2


def test_collect_inputs_rules(tmp_path):
    d = tmp_path / 'd'
    (d / 'sub').mkdir(parents=True)
    (d / '.git').mkdir()
    for name in ('b.jpg', 'a.PNG', 'sub/c.jpeg', '.hidden.jpg', '.git/x.jpg', 'notes.txt',
                 'data.csv'):
        (d / name).write_bytes(b'x')
    explicit = tmp_path / 'photo.txt'
    explicit.write_bytes(b'x')
    missing = tmp_path / 'nope.jpg'
    files, ignored = collect_inputs([d, explicit, missing, d / 'a.PNG'])
    assert files == [d / 'a.PNG', d / 'b.jpg', d / 'sub' / 'c.jpeg', explicit, missing]
    assert ignored == 2


def test_feature_matrix_for_the_report():
    from sorting_cell.cli.cluster import _feature_matrix

    a, b = np.ones((4, 3)), np.zeros((4, 2))
    assert _feature_matrix(a, 4).shape == (4, 3)
    assert _feature_matrix([a, b], 4).shape == (4, 5)  # multi-view: views side by side
    assert _feature_matrix([a, np.ones((3, 2))], 4) is None
    assert _feature_matrix(a, 5) is None
    assert _feature_matrix(np.full((4, 3), np.nan), 4) is None
    assert _feature_matrix(np.zeros((4, 0)), 4) is None


def test_contact_sheet_caps_rows_with_more_tile():
    rng = np.random.RandomState(0)
    images = [rng.randint(0, 255, (40, 80, 3), np.uint8) for _ in range(9)]
    rows = [SheetRow('cluster 0', images, total=30, lines=['n = 30']),
            SheetRow('cluster 1', images[:2], total=2)]
    sheet = contact_sheet(rows, thumb_size=48, max_per_row=4, header_width=100, title='t')
    assert sheet.dtype == np.uint8 and sheet.shape[2] == 3
    assert sheet.shape[1] == 100 + 4 * (48 + 6) + 6
    # Row 0: 3 thumbnails, then the '+27 more' tile: flat grey with dark text in it.
    top = 30 + 6
    more = sheet[top:top + 48, 100 + 3 * 54:100 + 3 * 54 + 48]
    assert (more == 214).all(axis=2).mean() > 0.7 and (more < 100).any()
    # Row 1 (striped background, rows are 48 + 2 * 6 high): 2 thumbnails, then nothing.
    y1 = 30 + 60 + 6
    assert (sheet[y1:y1 + 48, 100 + 2 * 54:] == (238, 241, 246)).all()
    assert not (sheet[y1:y1 + 48, 100 + 54:100 + 54 + 48] == (238, 241, 246)).all()
    with pytest.raises(ValueError, match='max_per_row'):
        contact_sheet(rows, max_per_row=1)


def test_html_escapes_paths_and_reasons():
    img = np.zeros((10, 10, 3), np.uint8)
    page = render_html(
        title='t', parameters={'k': 1}, counts={'clustered': 1}, timings={'total': 1.0},
        clusters=[ClusterView(0, 1, [Member('<img src=x onerror=alert(1)>.jpg', img,
                                            '<b>')])],
        failures=[('<script>alert(1)</script>.jpg', 'bad & "ugly"')])
    assert '<script>' not in page and '<b>' not in page and 'onerror=alert(1)>' not in page
    assert '&lt;script&gt;' in page and 'bad &amp; &quot;ugly&quot;' in page
