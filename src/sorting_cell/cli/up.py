"""``sorting-cell up sim|camera|replay [BAG]|robot --config CELL.yaml``: start the cell's node
set and watch it."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..bringup import TRANSPORTS
from ..ui.access import TOKEN_ENV, is_loopback, resolve_token


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('mode', choices=['sim', 'camera', 'replay', 'robot'],
                        help='sim: simulator + perception + simulated arm; camera: live camera '
                             '+ perception (no arm); replay: a recorded bag + perception; '
                             'robot: a real arm under its own driver (needs --config)')
    parser.add_argument('bag', nargs='?', help='replay: the rosbag2 to play')
    parser.add_argument('--config', metavar='CELL.yaml',
                        help='robot: the cell configuration (camera topics, controllers, '
                             'joints, frames, boxes, calibration; see config/robots/)')
    parser.add_argument('--rate', type=float, help='replay: time scale (default 1.0)')
    parser.add_argument('--loop', action='store_true', help='replay: loop the bag')
    parser.add_argument('--device', help="camera: OpenCV device index, path or URL")
    parser.add_argument('--folder', help='camera: publish the images of this folder instead')
    parser.add_argument('--nodes', help='comma-separated subset of the node set to start')
    parser.add_argument('--allow-missing', action='store_true',
                        help='start the nodes that exist even if some modules are missing')
    parser.add_argument('-p', '--param', action='append', default=[], metavar='NODE.NAME:=VALUE',
                        help='parameter override for one node, e.g. sorter.num_boxes:=4')
    parser.add_argument('--transport', choices=TRANSPORTS, default='auto',
                        help='Fast DDS transport profile for every node (default: the shipped '
                             'shared-memory profile, unless FASTRTPS_DEFAULT_PROFILES_FILE is '
                             'set)')
    parser.add_argument('--log-dir', help='per-node logs (default ~/.ros/log/sorting_cell/<time>)')
    parser.add_argument('--show-output', action='store_true',
                        help='let nodes write to this terminal instead of log files')
    parser.add_argument('--status-period', type=float, default=2.0, metavar='S',
                        help='seconds between health reports (default 2)')
    parser.add_argument('--status-format', choices=['text', 'json'], default='text')
    parser.add_argument('--exit-on-failure', action='store_true',
                        help='stop the whole cell when any node exits')
    parser.add_argument('--duration', type=float, help='stop after this many seconds')
    parser.add_argument('--grace', type=float, default=10.0,
                        help='seconds to wait after SIGINT before SIGTERM (default 10)')
    ui = parser.add_argument_group('operator page')
    ui.add_argument('--ui', action='store_true',
                    help='serve the live web page of the cell (camera, boxes, sort, health)')
    ui.add_argument('--ui-host', default='127.0.0.1',
                    help='address the page listens on (default 127.0.0.1; any other address '
                         'requires a token)')
    ui.add_argument('--ui-port', type=int, default=8080, help='port of the page (default 8080)')
    ui.add_argument('--ui-token', help='the token the page requires (default: '
                                       f'${TOKEN_ENV}, ui.yaml, or a new one printed at start '
                                       'when not on loopback)')
    ui.add_argument('--ui-out', metavar='DIR',
                    help="the run's output folder: each sort's report.html, the only folder "
                         'the page serves files from (default ~/.local/state/sorting_cell/ui)')


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for item in args.param:
        node, sep, rest = item.partition('.')
        name, sep2, value = rest.partition(':=')
        if not (sep and sep2 and node and name):
            raise ValueError(f'bad -p {item!r}: expected NODE.NAME:=VALUE')
        out.setdefault(node, {})[name] = value
    if args.mode == 'replay':
        replay = out.setdefault('replay', {})
        replay['bag'] = str(Path(args.bag).resolve())
        if args.rate is not None:
            replay['rate'] = repr(float(args.rate))
        replay['loop'] = str(args.loop).lower()
    if args.mode == 'camera':
        camera = out.setdefault('camera', {})
        if args.folder:
            camera.update(source='folder', folder=str(Path(args.folder).resolve()))
        if args.device:
            camera.update(source='opencv', device=args.device)
    return out


def _check_arm_model(config, specs) -> None:
    """The ros2_control backend plans on a model of the arm: fail now if there is none."""
    from .. import bringup
    sorter = next((s for s in specs if s.name == 'sorter'), None)
    if sorter is None or sorter.overrides.get('manipulator') != bringup.ROS2_CONTROL_FACTORY:
        return
    from ..sim.cell import ROBOT_MODELS, check_robot_model
    if not config.arm.model:
        raise ValueError(f'{config.source}: arm.model: missing: the arm the sorter plans on '
                         f'({", ".join(ROBOT_MODELS)}); or arm.manipulator: none for '
                         'perception only')
    check_robot_model(config.arm.model)


def _add_ui(args: argparse.Namespace, specs: list, env: dict) -> tuple[Path, str]:
    """Append the page node to ``specs``; its token (if any) goes to ``env``, not to a
    command line. Returns the supervisor's status file and the page's address."""
    from .. import bringup
    if not 1 <= args.ui_port <= 65535:
        raise ValueError(f'--ui-port must be 1-65535, got {args.ui_port}')
    out = Path(args.ui_out or Path.home() / '.local' / 'state' / 'sorting_cell' / 'ui')
    out.mkdir(parents=True, exist_ok=True)
    given = args.ui_token or env.get(TOKEN_ENV) or str(
        bringup._yaml_params(bringup.find_config('ui.yaml')).get('token') or '') or None
    token = resolve_token(args.ui_host, given)
    if token:
        env[TOKEN_ENV] = token
    status_file = out / '.status.json'
    specs.append(bringup.ui_spec(specs, args.ui_host, args.ui_port, out, status_file))
    host = f'[{args.ui_host}]' if ':' in args.ui_host else args.ui_host
    url = f'http://{host}:{args.ui_port}/' + (f'?token={token}' if token else '')
    if not is_loopback(args.ui_host):
        url += '  (bound beyond this machine: the token is required)'
    return status_file, url


def run(args: argparse.Namespace) -> int:
    from .. import bringup

    if args.mode == 'replay' and not args.bag:
        print('up replay: give the bag to play: sorting-cell up replay BAG', file=sys.stderr)
        return 2
    if args.mode != 'replay' and args.bag:
        print(f'up {args.mode}: unexpected argument {args.bag!r}', file=sys.stderr)
        return 2
    if args.mode == 'replay' and not (Path(args.bag) / 'metadata.yaml').is_file() and not (
            Path(args.bag).is_file() and (Path(args.bag).parent / 'metadata.yaml').is_file()):
        print(f'up replay: {args.bag} is not a rosbag2 (no metadata.yaml)', file=sys.stderr)
        return 2
    if (args.mode == 'robot') != bool(args.config):
        print('up: --config CELL.yaml goes with `up robot` (and only with it)', file=sys.stderr)
        return 2
    try:
        only = [n.strip() for n in args.nodes.split(',')] if args.nodes else None
        if args.mode == 'robot':
            from ..cell_config import CellConfig
            config = CellConfig.load(args.config)
            config.calibration()   # fail now, with the reason, not inside a node
            specs = bringup.robot_node_set(config, _overrides(args), only)
            _check_arm_model(config, specs)
        else:
            specs = bringup.node_set(args.mode, _overrides(args), only)
        env = bringup.transport_env(args.transport)
    except (ValueError, FileNotFoundError) as exc:
        print(f'up: {exc}', file=sys.stderr)
        return 2
    sorter = next((s for s in specs if s.name == 'sorter'), None)
    arm = sorter.overrides.get('manipulator', 'none') if sorter is not None else 'none'
    if args.mode == 'robot' and arm not in ('none', 'sim') and bringup.missing_modules(
            [bringup.NodeSpec('arm', arm.partition(':')[0])]):
        print(f'up robot: the arm backend {arm!r} is not installed; set arm.manipulator: none '
              'in the cell configuration to run perception only', file=sys.stderr)
        return 2
    missing = bringup.missing_modules(specs)
    if missing:
        msg = (f"up {args.mode}: node module(s) {', '.join(missing)} not found (not written yet "
               'or not installed)')
        if not args.allow_missing:
            print(msg + '; nothing started (use --allow-missing to start the others)',
                  file=sys.stderr)
            return 2
        print(msg + '; starting the others', file=sys.stderr)
        specs = [s for s in specs if s.module not in missing]
    status_file = None
    if args.ui:
        try:
            status_file, url = _add_ui(args, specs, env)
        except ValueError as exc:
            print(f'up: {exc}', file=sys.stderr)
            return 2
        print(f'up: operator page {url}', flush=True)
    for spec in specs:
        if spec.params_file is None:
            print(f'up: no config/{spec.name}.yaml found; {spec.name} runs on its defaults',
                  file=sys.stderr)
    log_dir = None
    if not args.show_output:
        log_dir = Path(args.log_dir) if args.log_dir else (
            Path.home() / '.ros' / 'log' / 'sorting_cell' / time.strftime('%Y%m%d-%H%M%S'))
        print(f'up: node logs in {log_dir}', flush=True)
    profile = env.get('FASTRTPS_DEFAULT_PROFILES_FILE') or 'Fast DDS built-in transports'
    print(f'up: transport profile {profile}', flush=True)
    if env.get('FASTRTPS_DEFAULT_PROFILES_FILE') and \
            env.get('ROS_AUTOMATIC_DISCOVERY_RANGE', '').upper() == 'LOCALHOST':
        print('up: warning: with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST rmw_fastrtps adds '
              'transports of its own to the profile; for one machine use --transport local '
              '(it unsets it)', file=sys.stderr, flush=True)
    sup = bringup.Supervisor(specs, env=env, log_dir=log_dir, grace_s=args.grace,
                             status_format=args.status_format, status_file=status_file)
    return sup.run(period_s=args.status_period, exit_on_failure=args.exit_on_failure,
                   duration_s=args.duration)
