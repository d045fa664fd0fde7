"""`sorting-cell up ... --ui`: the page node joins the node set with the cell's camera topic,
the sorter's sort log, and a token that travels by environment, never on a command line."""
import argparse

import pytest

from sorting_cell import bringup
from sorting_cell.cli import up
from sorting_cell.ui.access import TOKEN_ENV


def _args(*argv):
    parser = argparse.ArgumentParser()
    up.add_arguments(parser)
    return parser.parse_args(['sim', *argv])


def test_ui_spec_follows_the_cell(tmp_path):
    specs = [bringup.NodeSpec('proposals', 'm', None, {'best_effort': 'true'},
                              remaps={'camera/image_raw': '/rs/color', 'camera/depth': '/d'}),
             bringup.NodeSpec('sorter', 'm', None, {'sort_log_dir': '/var/log/sorts',
                                                    'use_sim_time': 'true'})]
    spec = bringup.ui_spec(specs, '127.0.0.1', 8080, tmp_path, tmp_path / 's.json')
    assert spec.name == 'ui' and spec.module == 'sorting_cell.nodes.ui'
    assert spec.overrides['sort_log_dir'] == '/var/log/sorts'
    assert spec.overrides['best_effort'] == 'true' and spec.overrides['use_sim_time'] == 'true'
    assert spec.remaps == {'camera/image_raw': '/rs/color'}
    assert spec.overrides['port'] == '8080' and 'token' not in spec.overrides


def test_up_ui_token_by_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    specs = bringup.node_set('sim')
    env = {}
    status, url = up._add_ui(_args('--ui', '--ui-out', str(tmp_path)), specs, env)
    assert TOKEN_ENV not in env and url == 'http://127.0.0.1:8080/'   # loopback: open
    assert specs[-1].name == 'ui' and status.parent == tmp_path

    specs, env = bringup.node_set('sim'), {}
    _, url = up._add_ui(_args('--ui', '--ui-host', '0.0.0.0', '--ui-out', str(tmp_path)),
                        specs, env)
    token = env[TOKEN_ENV]
    assert len(token) >= 16 and f'?token={token}' in url and 'required' in url
    assert token not in ' '.join(specs[-1].command())                  # not visible in ps

    specs, env = bringup.node_set('sim'), {}
    up._add_ui(_args('--ui', '--ui-host', '10.0.0.5', '--ui-token', 'x' * 20,
                     '--ui-out', str(tmp_path)), specs, env)
    assert env[TOKEN_ENV] == 'x' * 20
    with pytest.raises(ValueError, match='16 characters'):
        up._add_ui(_args('--ui', '--ui-host', '10.0.0.5', '--ui-token', 'short',
                         '--ui-out', str(tmp_path)), bringup.node_set('sim'), {})
    with pytest.raises(ValueError, match='ui-port'):
        up._add_ui(_args('--ui', '--ui-port', '70000', '--ui-out', str(tmp_path)),
                   bringup.node_set('sim'), {})


def test_supervisor_writes_its_status_file(tmp_path):
    import io
    import json
    sup = bringup.Supervisor([], monitor=False, out=io.StringIO(),
                             status_file=tmp_path / 'status.json')
    sup.report()
    assert json.loads((tmp_path / 'status.json').read_text())['processes'] == {}
