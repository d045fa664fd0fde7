"""``sorting-cell cluster PATH... -k N --out DIR``: sort a set of images into k groups.

Inputs: each ``PATH`` is an image file or a directory. Directories are walked
recursively (symlinked directories are not followed) in sorted order, taking the files
whose suffix is in :data:`sorting_cell.images.IMAGE_SUFFIXES` (case-insensitive);
other files there (READMEs, ``.txt``...) are counted as ignored, not listed, and hidden
files and directories (name starting with ``.``) are skipped. A file named explicitly
is always used whatever its suffix, so a bad file the user asked for is reported rather
than silently dropped; so is a ``PATH`` that does not exist. A file reached twice is
used once, at its first position. Anything with an image suffix that does not decode
(truncated JPEG, zero bytes, a text file renamed ``.jpg``) is a failed row with the
reason; the run goes on without it.

Outputs in ``DIR`` (created if needed; checked writable, and the outputs of an earlier
run removed, before any image is read; each written atomically):

- ``assignments.csv`` -- ``path,cluster,reason``: one row per input in input order;
  ``cluster`` is ``0..k-1``, or empty with the ``reason`` when the input was not used;
- ``clusters.png`` -- contact sheet, one row per cluster, most typical members first;
- ``report.html`` -- self-contained: parameters, counts, timings, scores, every cluster
  with thumbnails, and the failures table;
- ``summary.json`` -- the same facts for scripts;
- ``boxes.npz`` -- what the groups hold, for ``--into`` (:class:`~sorting_cell.perception.
  boxes.Boxes`: each clustered image's raw feature row, mask size and outline, its group,
  and the features/method/weights of the run, in a NumPy archive with a JSON ``meta``).

With ``--into PREVIOUS_OUT`` the images are not clustered from nothing: each goes into a
group of that earlier run (read from its ``boxes.npz``, described with its features,
method and weights; ``-k`` is then not given), or, when it matches none of them (a group of
its own when old and new images are clustered together with one group more:
:func:`~sorting_cell.perception.boxes.place`), into one extra group numbered ``k`` with the
reason ``new kind``. The ``boxes.npz`` written then holds the earlier groups with the new
images added, so runs can be chained.

With ``--truth-from-parent-dir`` each image's class is the name of the folder it is in
(the tool dataset's layout ``conditionsN/<class>/ij.jpg``) and the report adds NMI, AMI,
ARI, purity, ACC, Jaccard and FMI over the clustered images; DBI, normalised DBI and
silhouette are always given, on the L2-normalised features the clusterer uses.

Exit status: 0 when the outputs were written (also when some inputs failed: see the
``reason`` column), 2 for bad usage (k < 1, unknown method/features/proposer, no inputs
found, fewer usable images than k -- ``assignments.csv`` then still lists every input and
why it was or was not usable; ``DIR`` not writable or holding a directory named like an
output; a path that is not valid UTF-8, which the outputs cannot name), 1 when a model or
dataset is unavailable.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shlex
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # the CLI imports the heavy parts lazily, to start fast
    from ..pipeline import SortResult, SortingPipeline
    from ..report import ClusterView, SheetRow

OUTPUTS = ('assignments.csv', 'clusters.png', 'report.html', 'summary.json', 'boxes.npz')
_ODD = (192, 57, 43)
#: Rows on which a big run's internal scores (DBI, silhouette) are computed.
INTERNAL_SAMPLE = 5000
#: Members per group shown in the report of a streamed run (the most typical).
SHOWN_WITHOUT_PIXELS = 48
_EVEN = (40, 40, 40)


class UsageError(Exception):
    """A problem with the command line or the inputs (exit status 2)."""


_EPILOG = """\
outputs in DIR:
  assignments.csv  path,cluster,reason -- one row per input, in input order; cluster
                   empty and reason given for inputs that could not be used
  clusters.png     contact sheet: a row per cluster, most typical members first
  report.html      self-contained report: parameters, timings, scores, thumbnails,
                   failures
  summary.json     the same facts for scripts
  boxes.npz        what each group holds (feature rows), for a later --into

directories are searched recursively for image suffixes (other files are ignored and
counted); files named explicitly are always tried. exit status: 0 outputs written
(some inputs may have failed: see reason), 2 usage error (k < 1, unknown name, no
inputs, fewer usable images than k), 1 model or dataset unavailable.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..perception import METHODS
    from ..regions import PROPOSERS

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = _EPILOG

    p.add_argument('paths', nargs='+', metavar='PATH',
                   help='image files and/or directories (searched recursively)')
    p.add_argument('-k', '--clusters', dest='n_clusters', type=_k_arg, default=None,
                   metavar='N', help="number of groups (boxes), or 'auto': chosen from the "
                                     'images (highest silhouette of a Ward cut, at most '
                                     '--k-max; the score curve is in summary.json and '
                                     'report.html)')
    p.add_argument('--k-max', type=int, default=None, metavar='N',
                   help='largest number of groups tried with -k auto (default: 12)')
    p.add_argument('--into', type=Path, default=None, metavar='PREVIOUS_OUT',
                   help='put the images into the groups of an earlier run (its --out folder, '
                        "which holds boxes.npz) instead of clustering them; images matching "
                        "none go into one extra group with reason 'new kind'")
    p.add_argument('--out', required=True, metavar='DIR', type=Path,
                   help='output directory (created if needed)')
    from ..features import DEFAULT_FEATURES
    p.add_argument('--features', default=DEFAULT_FEATURES, metavar='NAME',
                   help="feature extractor registry name (default: %(default)s; e.g. 'hog', "
                        "'mobilenet_v1+mobilenet_v2')")
    p.add_argument('--method', default='agglomerative', metavar='NAME',
                   help=f'clustering method: {", ".join(METHODS)} (default: %(default)s)')
    p.add_argument('--proposer', default='auto', metavar='NAME',
                   help=f'how the object is found in each image: auto, {", ".join(PROPOSERS)} '
                        "('auto': decided from the images, reported in summary.json and "
                        "report.html; 'background': fixed camera, learns the empty table "
                        "from the images; 'none': each image whole) (default: %(default)s)")
    p.add_argument('--crop', default='upright', choices=['upright', 'box'],
                   help="what the CNN sees: the object turned upright in a tight strip, or its "
                        "box (default: %(default)s)")
    p.add_argument('--turn', default='auto', choices=['auto', 'on', 'off'],
                   help="also see each object or image turned by 180 degrees and average the "
                        "two: 'auto' turns cut-out objects and decides for whole images "
                        "whether the set has an up (reported in summary.json); 'on' turns "
                        "everything, 'off' nothing (default: %(default)s)")
    p.add_argument('--no-turn', dest='turn', action='store_const', const='off',
                   help='the same as --turn off')
    p.add_argument('--normalize', default='auto',
                   choices=['auto', 'centered', 'whitened', 'l2', 'standard', 'none'],
                   help="appearance normalisation: 'auto' centres cut-out objects and "
                        "half-whitens whole images (reported in summary.json); 'centered' "
                        "removes what the set shares; 'whitened' also evens out the set's "
                        "strongest directions (default: %(default)s)")
    p.add_argument('--size-weight', default='auto', metavar='W',
                   help="weight of object size next to appearance; 'auto' = 0.3 when the "
                        "images show one fixed camera and look-alike objects share size and "
                        "outline, else 0 (default: %(default)s)")
    p.add_argument('--shape-weight', default='auto', metavar='W',
                   help="weight of the object's outline (width along its length); 'auto' = "
                        "0.5 under the same evidence, else 0 (default: %(default)s)")
    p.add_argument('--cache', type=Path, metavar='DIR', help='on-disk feature cache')
    dist = p.add_mutually_exclusive_group()
    dist.add_argument('--workers', type=int, default=None, metavar='N',
                      help='extract features on a local Dask cluster of N worker processes')
    dist.add_argument('--scheduler', default=None, metavar='ADDR',
                      help='extract features on the Dask cluster whose scheduler is at ADDR '
                           '(tcp://host:8786; see sorting_cell.features.distributed)')
    p.add_argument('--seed', type=int, default=0, help='random seed (default: %(default)s)')
    p.add_argument('--truth-from-parent-dir', action='store_true',
                   help="score against each image's parent folder name as its class")
    p.add_argument('--thumbs-per-row', type=int, default=12, metavar='N',
                   help='contact sheet thumbnails per cluster row (default: %(default)s)')
    p.add_argument('--progress', action=argparse.BooleanOptionalAction, default=None,
                   help='progress bars (default: when stderr is a terminal)')


def collect_inputs(paths: Sequence[str | os.PathLike]) -> tuple[list[Path], int]:
    """Expand ``paths`` into the files to sort, and count ignored non-image files.

    See the module docstring for the rules.
    """
    from ..images import IMAGE_SUFFIXES

    found: list[Path] = []
    ignored = 0
    for path in map(Path, paths):
        if not path.is_dir():
            found.append(path)
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
            for name in sorted(files):
                if name.startswith('.'):
                    continue
                if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    found.append(Path(root) / name)
                else:
                    ignored += 1
    seen: set[str] = set()
    unique = []
    for f in found:
        key = os.path.realpath(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, ignored


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; returns the exit status (see the module docstring)."""
    try:
        return _run(args)
    except UsageError as exc:
        print(f'sorting-cell cluster: error: {exc}', file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from ..assets import AssetUnavailableError

    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    boxes = _read_boxes(args)
    pipe = _make_pipeline(args)
    files, ignored = collect_inputs(args.paths)
    if not files:
        raise UsageError(f'no image files found in {", ".join(map(str, args.paths))} '
                         f'(looked for {", ".join(sorted(_suffixes()))}'
                         + (f'; ignored {ignored} other file(s))' if ignored else ')'))
    if boxes is None and len(files) < _fewest(args.n_clusters):
        raise UsageError(f'found {len(files)} image file(s) but -k {args.n_clusters} groups '
                         'were asked for; need at least as many images as groups')
    # Everything that can fail on the outputs fails here, before the computation.
    _check_names(files, args)
    out = _make_out_dir(args.out)
    try:
        if boxes is None:
            result = pipe.sort_images(files)
        else:
            result, placement = _place(pipe, boxes, files)
    except ValueError as exc:
        # The pipeline refuses fewer usable images than k only after reading them all;
        # find out which failed and why, and keep that listing.
        reasons = _load_reasons(files)
        if sum(r is None for r in reasons) >= _fewest(args.n_clusters):
            raise  # enough images: not an input problem, keep the traceback
        reasons = [r or f'not clustered: {exc}' for r in reasons]
        _write_assignments(out / 'assignments.csv', files, [''] * len(files), reasons)
        for name in OUTPUTS[1:]:  # a previous run's sheet/report would contradict the CSV
            (out / name).unlink(missing_ok=True)
        raise UsageError(f'{exc}; see {out / "assignments.csv"}') from exc
    except AssetUnavailableError as exc:
        print(f'sorting-cell cluster: {exc}', file=sys.stderr)
        return 1
    t_pipeline = time.perf_counter()

    truth = [f.parent.name for f in files] if args.truth_from_parent_dir else None
    clusters_out = [str(it.label) if it.error is None else '' for it in result.items]
    reasons = [it.error or '' for it in result.items]
    if boxes is not None:
        for j, i in enumerate(result.description.usable):
            if placement.new_kind[j]:
                reasons[i] = (f'new kind: matches none of the {boxes.k} groups of '
                              f'{args.into} (nearest: {placement.labels[j]})')
    _write_assignments(out / 'assignments.csv', files, clusters_out, reasons)
    _write_boxes(out / 'boxes.npz', args, pipe, result, boxes,
                 None if boxes is None else placement)
    summary, ok, labels, Xn = _summarise(args, files, ignored, result, truth, started)
    if boxes is not None:
        summary['into'] = {'previous': str(args.into), 'boxes': boxes.k,
                           'previous objects': len(boxes.rows), **placement.as_dict()}
    rows, views = _cluster_views(result, files, truth, summary, ok, labels, Xn)
    _write_sheet(out / 'clusters.png', rows, args, summary)
    timings = dict(result.timings)
    timings['report'] = time.perf_counter() - t_pipeline
    timings['wall'] = time.perf_counter() - t_start
    summary['timings'] = timings
    _write_html(out / 'report.html', summary, views)
    _atomic_write(out / 'summary.json', json.dumps(summary, indent=2, default=_jsonable))
    _print_summary(summary, out)
    return 0


def _read_boxes(args: argparse.Namespace):
    """The boxes of the run named by ``--into`` (None without it); settles ``-k``."""
    if args.into is None:
        if args.n_clusters is None:
            raise UsageError('-k is required (a number of groups, or auto), unless --into '
                             'names an earlier run whose groups the images go into')
        return None
    from ..perception.boxes import BOXES_FILE, Boxes
    if args.n_clusters is not None:
        raise UsageError('-k and --into exclude each other: with --into the groups are those '
                         f'of {args.into}')
    try:
        boxes = Boxes.load(args.into / BOXES_FILE)
    except ValueError as exc:
        raise UsageError(f'--into {args.into}: {exc}') from exc
    # The new images are described and clustered as the groups were.
    for key in ('features', 'method', 'proposer', 'crop', 'size_weight', 'shape_weight'):
        if key in boxes.params:
            setattr(args, key, str(boxes.params[key]))
    if 'turn' in boxes.params:   # as decided for the boxes' images, never decided again
        args.turn = 'on' if bool(boxes.params['turn']) else 'off'
    args.n_clusters = boxes.k
    return boxes


def _place(pipe: SortingPipeline, boxes, files: list[Path]):
    """Describe ``files`` and put them into ``boxes``: the result and the placement."""
    from ..perception.boxes import place, placement_decision
    from ..pipeline import SortResult

    t0 = time.perf_counter()
    describer = pipe.describer()
    try:
        d = describer.images(files)
    finally:
        describer.close()
    t1 = time.perf_counter()
    p = place(boxes, d, random_state=pipe.random_state)
    labels = np.where(p.new_kind, boxes.k, p.labels)
    for i, lab in zip(d.usable, labels):
        d.items[i].label = int(lab)
    d.decisions['new_kind'] = placement_decision(p, boxes)
    timings = {k: v for k, v in d.timings.items() if k != 'describe_total'}
    timings['placing'] = time.perf_counter() - t1
    timings['total'] = time.perf_counter() - t0
    k = boxes.k + int(p.new_kind.any())
    return SortResult(items=d.items, n_clusters=k, features=d.features, timings=timings,
                      description=d), p


def _write_boxes(path: Path, args: argparse.Namespace, pipe: SortingPipeline,
                 result: SortResult, boxes, placement) -> None:
    """What each group holds, for a later ``--into``."""
    from ..perception.assign import resolve_normalize
    from ..perception.boxes import Boxes

    d = result.description
    if d is None or not len(d):
        return
    labels = np.array([d.items[i].label for i in d.usable])
    if boxes is not None:
        boxes.extended(d, labels, keep=~placement.new_kind).save(path)
        return
    params = {'features': str(args.features), 'method': args.method,
              'proposer': str(args.proposer), 'crop': args.crop,
              # Resolved as normalize is: new images must be seen as these were.
              'turn': bool(d.decisions['turn'].value) if 'turn' in d.decisions
              else args.turn != 'off',
              # Resolved: the boxes' rows no longer carry the decision 'auto' was made from.
              'normalize': resolve_normalize(d, pipe.normalize),
              'size_weight': pipe.size_weight,
              'shape_weight': pipe.shape_weight}
    Boxes.of(d, labels, **params).save(path)


def _suffixes() -> frozenset[str]:
    from ..images import IMAGE_SUFFIXES
    return IMAGE_SUFFIXES


def _make_pipeline(args: argparse.Namespace) -> SortingPipeline:
    """The pipeline, with every name checked before any image is read."""
    from ..pipeline import SortingPipeline

    from ..perception.choose_k import DEFAULT_K_MAX
    if args.into is None and args.n_clusters != 'auto' and args.n_clusters < 1:
        raise UsageError(f'-k must be >= 1 (number of groups) or auto, got {args.n_clusters}')
    if args.k_max is not None and (args.n_clusters != 'auto' or args.into is not None):
        raise UsageError('--k-max is only used with -k auto')
    k_max = DEFAULT_K_MAX if args.k_max is None else args.k_max
    if args.workers is not None and args.workers < 1:
        raise UsageError(f'--workers must be >= 1, got {args.workers}')
    if k_max < 2:
        raise UsageError(f'--k-max must be >= 2 (silhouette compares two groups or more), '
                         f'got {k_max}')
    if args.thumbs_per_row < 2:
        raise UsageError(f'--thumbs-per-row must be >= 2, got {args.thumbs_per_row}')
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    pipe = SortingPipeline(n_clusters=args.n_clusters, features=args.features,
                           method=args.method, proposer=args.proposer, crop=args.crop,
                           turn={'on': True, 'off': False}.get(args.turn, args.turn),
                           normalize=None if args.normalize == 'none' else args.normalize,
                           size_weight=_weight_arg('--size-weight', args.size_weight),
                           shape_weight=_weight_arg('--shape-weight', args.shape_weight),
                           cache_dir=args.cache, random_state=args.seed, progress=progress,
                           k_max=k_max, workers=args.workers, scheduler=args.scheduler)
    from ..features import make_extractor
    try:
        pipe.describer()._check()
        pipe._check()
        make_extractor(args.features)
    except (ValueError, KeyError) as exc:
        raise UsageError(exc.args[0] if exc.args else str(exc)) from exc
    return pipe


def _make_out_dir(out: Path) -> Path:
    """Create ``out``, check that the outputs can be written there, and remove those of an
    earlier run (a failed run must not leave an old report looking current)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise UsageError(f'--out {out}: exists and is not a directory') from exc
    except OSError as exc:
        raise UsageError(f'--out {out}: cannot create directory ({exc.strerror})') from exc
    for name in OUTPUTS:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            raise UsageError(f'--out {out}: {name} there is a directory; the output file '
                             'cannot replace it (move it away or choose another --out)')
    try:
        with tempfile.NamedTemporaryFile(dir=out, prefix='.sorting-cell-', suffix='.probe'):
            pass
    except OSError as exc:
        raise UsageError(f'--out {out}: cannot write there ({exc.strerror})') from exc
    try:
        for name in OUTPUTS:
            (out / name).unlink(missing_ok=True)
            (out / (name + '.part')).unlink(missing_ok=True)
    except OSError as exc:
        raise UsageError(f'--out {out}: cannot remove the outputs of an earlier run '
                         f'({exc.strerror}: {exc.filename})') from exc
    return out


def _shown(path: str | os.PathLike) -> str:
    """A path as text even when its bytes are not UTF-8 (undecodable bytes as \\xNN)."""
    return os.fsencode(path).decode('utf-8', 'backslashreplace')


def _check_names(files: Sequence[Path], args: argparse.Namespace) -> None:
    """The outputs are UTF-8 text naming every input: a file name that is not UTF-8 (bytes
    the file system allows) cannot be written there."""
    named = [*files, *map(Path, args.paths), args.out, *([args.cache] if args.cache else [])]
    bad = []
    for path in named:
        try:
            str(path).encode('utf-8')
        except UnicodeEncodeError:
            bad.append(_shown(path))
    if bad:
        listed = ', '.join(bad[:5]) + (f' and {len(bad) - 5} more' if len(bad) > 5 else '')
        raise UsageError(f'{len(bad)} path(s) not valid UTF-8, which the outputs cannot name: '
                         f'{listed}; rename them (e.g. convmv -f latin1 -t utf8) or leave '
                         'them out')


def _load_reasons(files: list[Path]) -> list[str | None]:
    """Why each file cannot be read (None when it can); error path only."""
    from ..images import ImageLoadError, load_image

    reasons: list[str | None] = []
    for f in files:
        try:
            load_image(f)
            reasons.append(None)
        except ImageLoadError as err:
            reasons.append(err.reason)
    return reasons


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file so an interrupted run never leaves half a file."""
    tmp = path.with_name(path.name + '.part')
    try:
        tmp.write_text(text, encoding='utf-8')
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_assignments(path: Path, files: Sequence[Path], clusters: Sequence[str],
                       reasons: Sequence[str]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(['path', 'cluster', 'reason'])
    writer.writerows(zip(map(str, files), clusters, reasons))
    _atomic_write(path, buf.getvalue())


def _summarise(args: argparse.Namespace, files: list[Path], ignored: int,
               result: SortResult, truth: list[str] | None, started: datetime
               ) -> tuple[dict, list[int], np.ndarray, np.ndarray | None]:
    """Parameters, counts and scores; also the clustered indices, labels, features."""
    from sklearn.preprocessing import normalize

    from .. import __version__
    from ..clustering.metrics import score_all

    ok = [i for i, it in enumerate(result.items) if it.error is None]
    labels = np.array([result.items[i].label for i in ok])
    Xn = _feature_matrix(result.features, len(ok))
    Xn = None if Xn is None else normalize(Xn)
    metrics = score_all([truth[i] for i in ok] if truth else None, labels)
    if Xn is not None:
        # Internal scores compare every pair: on a big run, a seeded sample of rows.
        rows = np.arange(len(Xn))
        if len(rows) > INTERNAL_SAMPLE:
            rows = np.sort(np.random.default_rng(0).choice(len(Xn), INTERNAL_SAMPLE,
                                                           replace=False))
        metrics.update(score_all(None, labels[rows], Xn[rows]))
    counts = {'inputs': len(files), 'clustered': len(ok), 'failed': len(files) - len(ok),
              'ignored non-image files': ignored,
              'whole-frame fallbacks': sum(1 for i in ok if result.items[i].region is not None
                                           and result.items[i].region.extra.get('fallback'))}
    if truth:
        counts['classes (parent folders)'] = len(set(truth[i] for i in ok))
    params = {'paths': ' '.join(map(str, args.paths)),
              'k': (args.n_clusters if args.n_clusters != 'auto'
                    else f'auto (chose {result.n_clusters})'),
              'features': str(args.features), 'method': args.method,
              'proposer': str(args.proposer), 'seed': args.seed,
              'feature cache': str(args.cache) if args.cache else 'off',
              'ground truth': 'parent folder name' if truth else 'none',
              'command': _command_line(args), 'sorting_cell': __version__,
              'started (UTC)': started.strftime('%Y-%m-%d %H:%M:%S')}
    summary = {'parameters': params, 'counts': counts, 'k': result.n_clusters,
               'decisions': {k: v.as_dict() for k, v in result.decisions.items()},
               'metrics': metrics, 'clusters': [],
               'failures': [(str(files[i]), it.error) for i, it in enumerate(result.items)
                            if it.error is not None]}
    return summary, ok, labels, Xn


def _command_line(args: argparse.Namespace) -> str:
    """The command that repeats this run (paths as given)."""
    k = (['--into', str(args.into)] if args.into is not None
         else ['-k', str(args.n_clusters)])
    argv = ['sorting-cell', 'cluster', *map(str, args.paths), *k,
            *(['--k-max', str(args.k_max)] if args.k_max is not None else []),
            '--features', str(args.features), '--method', str(args.method),
            '--proposer', str(args.proposer), '--seed', str(args.seed), '--out', str(args.out)]
    if args.cache:
        argv += ['--cache', str(args.cache)]
    if args.truth_from_parent_dir:
        argv.append('--truth-from-parent-dir')
    return shlex.join(argv)


def _feature_matrix(features, n_rows: int) -> np.ndarray | None:
    """The clustered features as one finite (n_rows, d) matrix, or None.

    None when there is no such matrix (e.g. a multi-view run keeping views apart): the
    report then shows members in input order and leaves out the internal scores.
    """
    if isinstance(features, (list, tuple)):
        try:
            features = np.hstack([np.asarray(v, dtype=float) for v in features])
        except ValueError:
            return None
    X = np.asarray(features)
    X = X if X.dtype.kind == 'f' else X.astype(float)  # big runs stay in single precision
    if X.ndim != 2 or len(X) != n_rows or X.shape[1] == 0 or not np.isfinite(X).all():
        return None
    return X


def _cluster_views(result: SortResult, files: list[Path], truth: list[str] | None,
                   summary: dict, ok: list[int], labels: np.ndarray, Xn: np.ndarray | None
                   ) -> tuple[list[SheetRow], list[ClusterView]]:
    """Contact-sheet rows and HTML views, members ordered most typical first."""
    from ..report import ClusterView, Member, SheetRow

    rows, views = [], []
    for c in range(result.n_clusters):
        idx = np.nonzero(labels == c)[0]
        if len(idx) and Xn is not None:
            # Most typical first: nearest the cluster mean in the clusterer's geometry.
            d = np.linalg.norm(Xn[idx] - Xn[idx].mean(0), axis=1)
            idx = idx[np.argsort(d, kind='stable')]
        members = [ok[j] for j in idx]
        size = len(members)
        notes, majority, classes = [f'n = {len(members)}'], None, None
        if truth and members:
            classes = Counter(truth[i] for i in members)
            majority, count = classes.most_common(1)[0]
            notes.append(f'{majority} {count}/{len(members)}')
            classes = dict(sorted(classes.items()))
        summary['clusters'].append({'cluster': c, 'size': len(members), 'majority': majority,
                                    'classes': classes,
                                    'members': [str(files[i]) for i in members]})
        if any(result.items[i].region is None for i in members):
            # A streamed (big) run keeps no pixels: show the most typical members only,
            # reloaded as thumbnails.
            members = members[:SHOWN_WITHOUT_PIXELS]
        captions = [truth[i] if truth else files[i].name for i in members]
        odd = [bool(truth) and truth[i] != majority for i in members]
        crops = [_pixels(result.items[i], files[i]) for i in members]
        rows.append(SheetRow(title=f'cluster {c}', images=crops, total=size,
                             lines=notes, captions=captions,
                             caption_colors=[_ODD if o else _EVEN for o in odd]))
        views.append(ClusterView(cluster=c, size=size, notes=notes[1:],
                                 members=[Member(str(files[i]), crop, cap, o) for i, crop,
                                          cap, o in zip(members, crops, captions, odd)]))
    return rows, views


def _pixels(item, path: Path) -> np.ndarray:
    """What the report shows of an item: its crop, or the image reloaded and shrunk."""
    if item.region is not None:
        return item.region.crop
    import cv2

    from ..images import load_image
    rgb = load_image(path)
    f = 128 / max(rgb.shape[:2])
    return cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else rgb


def _write_sheet(path: Path, rows: list[SheetRow], args: argparse.Namespace,
                 summary: dict) -> None:
    from ..report import contact_sheet, save_png

    title = (f'{summary["counts"]["clustered"]} images -> {summary["k"]} clusters  |  '
             f'{args.features} + {args.method}, proposer {args.proposer}')
    if 'nmi' in summary['metrics']:
        title += (f'  |  NMI {summary["metrics"]["nmi"]:.3f}  purity '
                  f'{summary["metrics"]["purity"]:.3f}')
    sheet = contact_sheet(rows, max_per_row=args.thumbs_per_row, title=title)
    tmp = path.with_name(path.name + '.part')
    try:
        save_png(tmp, sheet)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_html(path: Path, summary: dict, views: list[ClusterView]) -> None:
    from ..report import render_html

    truth = summary['parameters']['ground truth'] != 'none'
    notes = ('Internal scores (dbi, ndbi = 1/(1+dbi), silhouette) on the L2-normalised '
             'features.' + (' External scores compare clusters with parent-folder classes '
                            'over the clustered images.' if truth else ''))
    composition = ({c['cluster']: c['classes'] or {} for c in summary['clusters']} if truth
                   else None)
    page = render_html(title='sorting-cell cluster report', parameters=summary['parameters'],
                       counts=summary['counts'], timings=summary['timings'], clusters=views,
                       failures=summary['failures'], metrics=summary['metrics'],
                       metric_notes=notes, composition=composition,
                       decisions=summary.get('decisions'))
    _atomic_write(path, page)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _print_summary(summary: dict, out: Path) -> None:
    c = summary['counts']
    sizes = ', '.join(str(cl['size']) for cl in summary['clusters'])
    print(f'clustered {c["clustered"]} of {c["inputs"]} image(s) into '
          f'{len(summary["clusters"])} groups (sizes {sizes})')
    if summary['metrics'].get('nmi') is not None:
        m = summary['metrics']
        print(f'  NMI {m["nmi"]:.3f}  purity {m["purity"]:.3f}  ACC {m["acc"]:.3f}  '
              f'ARI {m["ari"]:.3f}')
    for name, d in summary.get('decisions', {}).items():
        print(f'  {name.replace("_", " ")}: {"yes" if d["value"] else "no"}'
              f'{" (forced)" if d["forced"] else ""} -- {d["reason"]}')
    if c['failed']:
        print(f'  {c["failed"]} input(s) could not be used; reasons in '
              f'{out / "assignments.csv"}', file=sys.stderr)
    print(f'  outputs: {", ".join(str(out / n) for n in OUTPUTS)}')


def _k_arg(text: str):
    """``-k``: a whole number, or 'auto'."""
    if text == 'auto':
        return 'auto'
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number or 'auto', got {text!r}")


def _fewest(n_clusters) -> int:
    """Fewest usable images for ``-k`` (three to choose a number of groups from)."""
    return 3 if n_clusters == 'auto' else n_clusters


def _weight_arg(flag: str, text: str):
    if text == 'auto':
        return 'auto'
    try:
        value = float(text)
    except ValueError:
        raise SystemExit(f"{flag} must be 'auto' or a number >= 0, got {text!r}")
    if not value >= 0 or value == float('inf'):
        raise SystemExit(f'{flag} must be a finite number >= 0, got {value}')
    return value
