"""``sorting-cell replay BAG``: publish a bag's camera stream with its original timing."""
from __future__ import annotations

import argparse

from ..bringup import TRANSPORTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('bag', help='rosbag2 directory (or its .mcap/.db3 file), or a bare '
                                    '.mcap file without metadata.yaml')
    parser.add_argument('--rate', type=float, default=1.0,
                        help='time scale (2.0 = twice as fast; default 1.0)')
    parser.add_argument('--loop', action='store_true', help='start again at the end')
    parser.add_argument('--topics', nargs='+',
                        help='bag topics to publish (default camera/image_raw, '
                             'camera/camera_info)')
    parser.add_argument('--all-topics', action='store_true', help='publish every topic')
    parser.add_argument('--restamp', action='store_true',
                        help='stamp headers with the publish time instead of the recorded one')
    parser.add_argument('--wait-for-subscribers', type=int, default=0, metavar='N',
                        help='hold the first frame until N subscribers are matched on the '
                             'image and camera_info topics')
    parser.add_argument('--best-effort', action='store_true', help='BEST_EFFORT image QoS')
    parser.add_argument('--transport', choices=TRANSPORTS, default='auto',
                        help='Fast DDS transport profile (default: shipped SHM profile unless '
                             'FASTRTPS_DEFAULT_PROFILES_FILE is set)')


def run(args: argparse.Namespace) -> int:
    from ..bringup import NodeSpec, find_config, run_foreground, transport_env

    if args.rate <= 0:
        print(f'replay: --rate must be positive, got {args.rate}')
        return 2
    overrides = {'bag': args.bag, 'rate': repr(float(args.rate)),
                 'loop': str(args.loop).lower(), 'restamp': str(args.restamp).lower(),
                 'wait_for_subscribers': str(args.wait_for_subscribers),
                 'reliable': str(not args.best_effort).lower(), 'exit_at_end': 'true'}
    if args.all_topics:
        overrides['topics'] = '[]'
    elif args.topics:
        overrides['topics'] = '[' + ','.join(args.topics) + ']'
    spec = NodeSpec('replay', 'sorting_cell.nodes.replay', find_config('replay.yaml'),
                    overrides)
    return run_foreground(spec, transport_env(args.transport))
