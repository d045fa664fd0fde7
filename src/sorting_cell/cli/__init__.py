"""``sorting-cell`` command line: one module per subcommand.

Each module in :data:`COMMANDS` defines ``add_arguments(parser)`` and ``run(args) -> int``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, one-line help)
COMMANDS = {
    'demo': ('demo', 'sort one tray of the tool dataset with the embedded default (the main job)'),
    'cluster': ('cluster', 'cluster a set of images into k groups (assignments, contact sheet, report)'),
    'bench': ('bench', 'run the benchmarks: the tool dataset protocols, the ROS replay check'),
    'fetch': ('fetch', 'download and verify models and datasets'),
    'sim': ('sim', 'simulated cell: before/after tray pictures, animation of a sort'),
    'up': ('up', 'start the cell (sim | camera | replay BAG) as processes and show its health'),
    'record': ('record', 'record live topics to a rosbag2, or write a camera bag from images'),
    'replay': ('replay', "publish a bag's camera stream with its original timing"),
    'calibrate': ('calibrate', 'camera pose on the table and in the robot base frame from a '
                  'ChArUco board (writes the calibration file)'),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='sorting-cell',
        description='Sort unknown objects into N boxes by what they look like: cluster image '
                    'sets, run the benchmarks, and bring up the ROS 2 cell (real or simulated).')
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(f'{__name__}.{module}').add_arguments(p)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(f'{__name__}.{args._module}')
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
