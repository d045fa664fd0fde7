"""Feature extraction on a local Dask cluster of worker processes = in one process."""
import json

import numpy as np
import pytest

from sorting_cell.cli import main
from sorting_cell.features import make_extractor
from sorting_cell.features.distributed import DaskFeatures
from sorting_cell.perception import Describer


@pytest.fixture(scope='module')
def photos(tools_root):
    return sorted((tools_root / 'conditions2').glob('*/*.jpg'))[::8][:14]


def test_two_worker_processes_give_the_same_rows(photos):
    from sorting_cell.images import load_image
    crops = [load_image(p)[::4, ::4] for p in photos]
    local = make_extractor('mobilenet_v2_tf2').transform(crops)
    dask = DaskFeatures(make_extractor('mobilenet_v2_tf2'), n_workers=2, chunk=4)
    try:
        rows = dask.transform(crops)
        assert len(dask.client().scheduler_info()['workers']) == 2
    finally:
        dask.close()
    assert rows.shape == local.shape and np.array_equal(rows, local)


def test_cli_with_workers_gives_the_same_labels(photos, tmp_path):
    runs = {}
    for name, extra in (('one', []), ('dask', ['--workers', '2'])):
        out = tmp_path / name
        assert main(['cluster', *map(str, photos), '-k', '3', '--out', str(out),
                     '--no-progress', *extra]) == 0
        runs[name] = ((out / 'assignments.csv').read_text(),
                      json.loads((out / 'summary.json').read_text())['decisions'])
    assert runs['one'] == runs['dask']


def test_bad_distribution_settings_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match='not both'):
        Describer(workers=2, scheduler='tcp://x:1').images([np.zeros((8, 8, 3), np.uint8)])
    with pytest.raises(RuntimeError, match='no Dask scheduler answered'):
        DaskFeatures(make_extractor('hog'), scheduler='tcp://127.0.0.1:9', timeout=2).client()
