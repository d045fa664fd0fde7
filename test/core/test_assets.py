"""Asset resolution: local copies, cache, verified download, clear offline error."""
import hashlib
import os
import http.server
import threading
from pathlib import Path

import pytest

from sorting_cell import assets
from sorting_cell.assets import Asset, AssetUnavailableError, resolve


def test_local_copy_is_found(monkeypatch, tmp_path):
    # conftest points SORTING_CELL_ASSETS at ../shared unless the environment already did.
    shared = Path(os.environ[assets.ENV_LOCAL])
    monkeypatch.setenv(assets.ENV_LOCAL, str(shared))
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path))
    path = resolve('mobilenet_v2', download=False)
    assert path == shared / 'models' / 'mobilenet_v2_1.0_224_quant.tflite'
    assert hashlib.sha256(path.read_bytes()).hexdigest() == assets.ASSETS['mobilenet_v2'].sha256


def test_unknown_asset_names_the_known_ones():
    with pytest.raises(KeyError, match='mobilenet_v2'):
        resolve('no-such-model')


def test_offline_error_says_what_and_where(monkeypatch, tmp_path):
    monkeypatch.setenv(assets.ENV_LOCAL, str(tmp_path / 'empty'))
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / 'cache'))
    fake = Asset('x', 'models/x.tflite', 'http://127.0.0.1:9/x.tflite', None, 'test model')
    monkeypatch.setitem(assets.ASSETS, 'x', fake)
    with pytest.raises(AssetUnavailableError) as err:
        resolve('x', progress=False)
    msg = str(err.value)
    assert 'http://127.0.0.1:9/x.tflite' in msg and str(tmp_path / 'cache' / 'models') in msg
    assert assets.ENV_LOCAL in msg


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / 'www'
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()


def test_download_verifies_checksum(monkeypatch, tmp_path, http_root):
    root, base = http_root
    (root / 'm.bin').write_bytes(b'model bytes')
    good = hashlib.sha256(b'model bytes').hexdigest()
    monkeypatch.setenv(assets.ENV_LOCAL, str(tmp_path / 'none'))
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / 'cache'))
    monkeypatch.setitem(assets.ASSETS, 'm', Asset('m', 'models/m.bin', f'{base}/m.bin', good, 'm'))
    path = resolve('m', progress=False)
    assert path.read_bytes() == b'model bytes'
    monkeypatch.setitem(assets.ASSETS, 'bad', Asset('bad', 'models/bad.bin', f'{base}/m.bin',
                                                     '0' * 64, 'bad'))
    with pytest.raises(AssetUnavailableError, match='checksum mismatch'):
        resolve('bad', progress=False)
    assert not (tmp_path / 'cache' / 'models' / 'bad.bin').exists()


def test_archive_download_unpacks_dataset(monkeypatch, tmp_path, http_root):
    import tarfile
    root, base = http_root
    src = tmp_path / 'src' / 'tools' / 'conditions1' / 'pen'
    src.mkdir(parents=True)
    (src / '11.jpg').write_bytes(b'jpeg')
    with tarfile.open(root / 'tools.tar.gz', 'w:gz') as tar:
        tar.add(tmp_path / 'src' / 'tools', arcname='tools')
    monkeypatch.setenv(assets.ENV_LOCAL, str(tmp_path / 'none'))
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / 'cache'))
    monkeypatch.setitem(assets.ASSETS, 't', Asset('t', 'datasets/tools', f'{base}/tools.tar.gz',
                                                   None, 't', archive=True))
    path = resolve('t', progress=False)
    assert (path / 'conditions1' / 'pen' / '11.jpg').read_bytes() == b'jpeg'
    # The first download's checksum is recorded so later corruption is caught.
    assert (path.parent / 'tools.sha256').read_text().strip() == hashlib.sha256(
        (root / 'tools.tar.gz').read_bytes()).hexdigest()
