"""``sorting-cell record OUT``: live topics -> rosbag2, or image files -> a camera bag."""
from __future__ import annotations

import argparse
import sys

from ..bringup import TRANSPORTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('out', help='bag directory to create (must not exist)')
    src = parser.add_mutually_exclusive_group()
    src.add_argument('--from-folder', metavar='DIR',
                     help='no ROS: write the images under DIR as a camera stream')
    src.add_argument('--from-tools', action='store_true',
                     help='no ROS: write the tool dataset (see --condition) as a camera stream')
    parser.add_argument('--condition', type=int, default=3, choices=range(1, 6),
                        help='tool dataset condition (default 3)')
    parser.add_argument('--classes', nargs='+', help='tool classes to include (default all)')
    parser.add_argument('--per-class', type=int, help='at most this many images per class')
    parser.add_argument('--rate', type=float, default=10.0,
                        help='frame rate of a bag written from files (default 10 Hz)')
    parser.add_argument('--hfov', type=float, default=60.0,
                        help='horizontal field of view for the written CameraInfo (deg)')
    parser.add_argument('--topics', nargs='+',
                        help='live: topics to record (default: camera, detections, assignments, '
                             'clustering/ready)')
    parser.add_argument('--duration', type=float, default=0.0,
                        help='live: stop after this many seconds (default: until Ctrl-C)')
    parser.add_argument('--storage', choices=['mcap', 'sqlite3'], default='mcap')
    parser.add_argument('--transport', choices=TRANSPORTS, default='auto',
                        help='live: Fast DDS transport profile (default: shipped SHM profile '
                             'unless FASTRTPS_DEFAULT_PROFILES_FILE is set)')


def run(args: argparse.Namespace) -> int:
    from .. import bags

    if args.from_folder or args.from_tools:
        try:
            if args.from_tools:
                summary = bags.bag_from_tools(args.out, args.condition, classes=args.classes,
                                              per_class=args.per_class, rate_hz=args.rate,
                                              hfov_deg=args.hfov, storage=args.storage,
                                              progress=True)
            else:
                summary = bags.write_image_bag(args.out, bags.list_images(args.from_folder),
                                               rate_hz=args.rate, hfov_deg=args.hfov,
                                               storage=args.storage, progress=True)
        except (ValueError, FileNotFoundError, FileExistsError, KeyError) as exc:
            print(f'record: {exc}', file=sys.stderr)
            return 2
        counts = ', '.join(f'{t}: {n}' for t, n in sorted(summary.counts.items()))
        print(f'wrote {summary.path} ({counts}; {summary.duration_s:.1f} s)')
        return 0

    from ..bringup import NodeSpec, find_config, run_foreground, transport_env

    overrides = {'output': args.out, 'storage': args.storage, 'duration_s': str(args.duration)}
    if args.topics:
        overrides['topics'] = '[' + ','.join(args.topics) + ']'
    spec = NodeSpec('recorder', 'sorting_cell.nodes.recorder', find_config('recorder.yaml'),
                    overrides)
    return run_foreground(spec, transport_env(args.transport))
