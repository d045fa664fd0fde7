"""``sorting-cell bench tools --protocol A|B|C``: the published tool-dataset benchmarks."""
from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument('dataset', choices=['tools', 'replay', 'faults'],
                   help="'tools': the published protocols; 'replay': one condition of the "
                        'tool dataset as a camera bag through the proposals and clustering '
                        "nodes vs the offline pipeline on the same frames; 'faults': the "
                        'fault matrix on a simulated cell (DIR/summary.json: per case the '
                        'outcome, lost and duplicated objects from the ground truth, seconds '
                        'to report)')
    p.add_argument('--cases', nargs='+', default=None, metavar='CASE',
                   help='faults: only these cases (default: all; --cases list names them)')
    p.add_argument('--condition', type=int, default=3, choices=range(1, 6),
                   help="replay: the tool dataset's condition (default: %(default)s)")
    p.add_argument('--background-frames', type=int, default=24,
                   help='replay: frames the proposals node learns the table from '
                        '(default: %(default)s)')
    p.add_argument('--protocol', choices=['A', 'B', 'C'], default='A')
    from ..features import DEFAULT_FEATURES
    p.add_argument('--features', default=DEFAULT_FEATURES, help='feature extractor name')
    p.add_argument('--method', default='agglomerative', help='clustering method')
    p.add_argument('--crop', default='upright', choices=['upright', 'box'])
    p.add_argument('--normalize', default='auto',
                   help="feature normalisation: auto (decided from the images), centered, "
                        "whitened, l2, standard, none")
    p.add_argument('--proposer', default='auto',
                   help="object proposals: 'auto' (decided from the images), 'background', "
                        "'saliency', 'none' (whole images)")
    p.add_argument('--size-weight', default='auto',
                   help="weight of object size next to appearance ('auto' = 0.3 when the "
                        "evidence says size and outline carry information)")
    p.add_argument('--shape-weight', default='auto',
                   help="weight of the outline's width profile ('auto' = 0.5 under the same "
                        "evidence)")
    p.add_argument('--draws', type=int, default=100, help='Protocol A draws')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=None, help="output directory (default: "
                   "benchmarks/results; required for 'faults', which writes DIR/summary.json)")
    p.add_argument('--name', default=None, help='result file stem (default from options)')


def run(args) -> int:
    if args.dataset != 'faults' and args.out is None:
        args.out = 'benchmarks/results'
    if args.dataset == 'replay':
        return _run_replay(args)
    if args.dataset == 'faults':
        from .faults import run_faults
        return run_faults(args)
    from ..bench import describe, run_protocol_a, run_protocol_b, run_protocol_c
    from ..bench.markdown import table_a, table_b, table_c
    from ..datasets import load_tools
    from ..pipeline import SortingPipeline
    from .cluster import _weight_arg

    pipe = SortingPipeline(n_clusters=7, features=args.features, method=args.method,
                           proposer=args.proposer, crop=args.crop,
                           normalize=None if args.normalize == 'none' else args.normalize,
                           size_weight=_weight_arg('--size-weight', args.size_weight),
                           shape_weight=_weight_arg('--shape-weight', args.shape_weight),
                           random_state=args.seed)
    images = load_tools()
    t0 = time.perf_counter()
    described = describe(images, pipe, progress=sys.stderr.isatty())
    t1 = time.perf_counter()
    label = (f'{args.features} + {args.method}, proposals {args.proposer}, crop {args.crop}, '
             f'normalize {args.normalize}, size weight {args.size_weight}, '
             f'shape weight {args.shape_weight}')
    if args.protocol == 'A':
        result = run_protocol_a(described, pipe, n_draws=args.draws, seed=args.seed)
        md = table_a(result, label)
    elif args.protocol == 'B':
        result = run_protocol_b(described, pipe)
        md = table_b(result, label)
    else:
        result = run_protocol_c(described, pipe)
        md = table_c(result, label)
    t2 = time.perf_counter()
    name = args.name or (f'tools_{args.protocol}_{args.features}_{args.method}_{args.proposer}_'
                         f'{args.crop}_{args.normalize}'
                         .replace(':', '-').replace('+', '_'))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {'protocol': args.protocol, 'features': args.features, 'method': args.method,
            'proposer': args.proposer, 'crop': args.crop, 'normalize': args.normalize,
            'size_weight': args.size_weight, 'shape_weight': args.shape_weight,
            'draws': args.draws, 'seed': args.seed,
            'seconds_per_image': described.seconds_per_image,
            'decisions': {k: v.as_dict() for k, v in described.description.decisions.items()},
            'describe_seconds': t1 - t0, 'protocol_seconds': t2 - t1,
            'machine': f'{platform.machine()}, {platform.python_version()}',
            'date': time.strftime('%Y-%m-%d')}
    (out / f'{name}.json').write_text(json.dumps({'meta': meta, 'result': result}, indent=2))
    timing = (f'\n\nPer image: proposals {1000 * described.seconds_per_image["proposals"]:.1f} ms, '
              f'features {1000 * described.seconds_per_image["features"]:.1f} ms; '
              f'protocol {t2 - t1:.1f} s.\n')
    (out / f'{name}.md').write_text(f'## Protocol {args.protocol}: {label}\n\n{md}{timing}')
    print(md + timing)
    print(f'wrote {out / name}.json and .md')
    return 0


def _run_replay(args) -> int:
    import numpy as np

    from ..datasets import load_tools
    from ..nodes.replay_check import compare_offline_and_nodes

    images = [im for im in load_tools() if im.condition == args.condition]
    order = np.random.default_rng(args.seed).permutation(len(images))
    images = [images[i] for i in order]
    classes = sorted({im.label for im in images})
    result = compare_offline_and_nodes([im.path for im in images],
                                       [classes.index(im.label) for im in images], len(classes),
                                       background_frames=args.background_frames)
    result.update(condition=args.condition, seed=args.seed, date=time.strftime('%Y-%m-%d'),
                  machine=f'{platform.machine()}, {platform.python_version()}')
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / (args.name or f'replay_c{args.condition}')
    path.with_suffix('.json').write_text(json.dumps(result, indent=2))
    print(f"condition {args.condition}, {result['frames']} frames: offline NMI "
          f"{result['offline']['nmi']:.3f}, through the nodes {result['nodes']['nmi']:.3f} "
          f"(same frames: {result['same_frames']})\nwrote {path.with_suffix('.json')}")
    return 0
