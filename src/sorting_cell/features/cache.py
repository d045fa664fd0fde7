"""On-disk feature cache keyed by image content and extractor configuration.

Layout: ``<cache_dir>/<config hash>/<key[:2]>/<key>.npy`` plus ``config.json`` beside the
shards (so a human can tell what a folder holds). ``key`` is the sha256 of the config hash,
the crop's shape, dtype and bytes.

Writes go to a temporary file in the same folder and are published with ``os.replace``
(atomic on POSIX and Windows), so concurrent readers see a whole file or none. A file that
cannot be read, or holds the wrong shape, is recomputed and overwritten, never fatal.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .base import FeatureExtractor, as_image_list

__all__ = ['CachedExtractor', 'config_hash', 'image_key']


def config_hash(config: dict) -> str:
    """Stable sha256 of an extractor's ``config()``."""
    text = json.dumps(config, sort_keys=True, separators=(',', ':'), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def image_key(image: np.ndarray, cfg_hash: str) -> str:
    """sha256 of (config hash, shape, dtype, pixels)."""
    arr = np.ascontiguousarray(image)
    h = hashlib.sha256(cfg_hash.encode())
    h.update(repr((arr.shape, arr.dtype.str)).encode())
    h.update(memoryview(arr).cast('B'))
    return h.hexdigest()


class CachedExtractor(FeatureExtractor):
    """Wrap an extractor so each crop's features are computed once, then read from disk.

    Parameters
    ----------
    extractor : FeatureExtractor
        What computes the features on a miss.
    cache_dir : path
        Root folder of the cache (created on first write).

    Attributes
    ----------
    n_hits_, n_misses_, n_corrupt_ : int
        Counters since construction (``n_corrupt_`` counts unreadable entries replaced).
    """

    def __init__(self, extractor: FeatureExtractor, cache_dir: str | os.PathLike):
        self.extractor = extractor
        self.cache_dir = cache_dir

    def config(self) -> dict:
        # Cached or not, the features are the same: share entries with the bare extractor.
        return self.extractor.config()

    def load(self) -> 'CachedExtractor':
        """Load the wrapped extractor's weights now; returns self."""
        self.extractor.load()
        return self

    def _folder(self) -> Path:
        cfg = self.extractor.config()
        folder = Path(self.cache_dir) / config_hash(cfg)[:24]
        if not (folder / 'config.json').exists():
            folder.mkdir(parents=True, exist_ok=True)
            self._atomic_write(folder / 'config.json',
                               json.dumps(cfg, indent=1, sort_keys=True, default=str).encode())
        return folder

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix='.tmp-')
        try:
            with os.fdopen(fd, 'wb') as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _read(self, path: Path) -> np.ndarray | None:
        try:
            row = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError):
            self.n_corrupt_ = getattr(self, 'n_corrupt_', 0) + 1
            return None
        if row.ndim != 1 or row.dtype != np.float32 or not np.isfinite(row).all():
            self.n_corrupt_ = getattr(self, 'n_corrupt_', 0) + 1
            return None
        return row

    def _write(self, path: Path, row: np.ndarray) -> None:
        import io

        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(row, dtype=np.float32))
        try:
            self._atomic_write(path, buf.getvalue())
        except OSError:
            pass  # a read-only or full disk costs speed, not results

    def transform(self, X) -> np.ndarray:
        images = as_image_list(X)
        self.n_hits_ = getattr(self, 'n_hits_', 0)
        self.n_misses_ = getattr(self, 'n_misses_', 0)
        if not images:
            return np.zeros((0, 0), dtype=np.float32)
        try:
            folder = self._folder()
        except OSError as exc:
            warnings.warn(f'feature cache {self.cache_dir} is unusable ({exc}); computing '
                          'features without it', RuntimeWarning, stacklevel=2)
            self.n_misses_ += len(images)
            return self.extractor.transform(images)
        cfg = folder.name
        paths = [folder / k[:2] / f'{k}.npy' for k in (image_key(im, cfg) for im in images)]
        rows: list[np.ndarray | None] = [self._read(p) for p in paths]
        dims = {r.shape[0] for r in rows if r is not None}
        if len(dims) > 1:  # disagreeing entries: trust none of them
            rows = [None] * len(rows)
        missing = [i for i, r in enumerate(rows) if r is None]
        if missing:
            fresh = self.extractor.transform([images[i] for i in missing])
            if dims and fresh.shape[1] not in dims:
                # Hits of another length are stale: recompute everything.
                missing = list(range(len(images)))
                fresh = self.extractor.transform(images)
            for i, row in zip(missing, fresh):
                rows[i] = row
                self._write(paths[i], row)
        self.n_misses_ += len(missing)
        self.n_hits_ += len(images) - len(missing)
        return np.stack(rows).astype(np.float32, copy=False)

    def _transform(self, images):  # pragma: no cover - transform is overridden
        return self.transform(images)
