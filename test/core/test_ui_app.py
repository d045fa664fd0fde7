"""The operator's page without ROS: state model, token, origin and host checks, safe files,
commands, and the WebSocket stream (Starlette's TestClient drives the real ASGI app)."""
import json
import os

import numpy as np
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from sorting_cell.sortlog import LoggedObject, SortLog
from sorting_cell.ui import CellView, Phase, UnsafePath, resolve_token, safe_path
from sorting_cell.ui.app import CommandError, make_app
from sorting_cell.ui.sort_report import list_reports, outline, write_sort_report

TOKEN = 'a-long-enough-test-token-123'
LOCAL = 'http://127.0.0.1:8080'
WS = 'ws://127.0.0.1:8080'


class Recorder:
    """Commands that record what the page asked (the cell's side is the node's job)."""

    def __init__(self):
        self.calls = []

    def start(self, num_boxes):
        self.calls.append(('start', num_boxes))
        if num_boxes == 7:
            raise CommandError('a sort is already running')
        if num_boxes == 13:
            raise RuntimeError('the ROS context was shut down')
        return f'sort started with {num_boxes} boxes'

    def cancel(self):
        self.calls.append(('cancel',))
        return 'cancel requested'

    def resume(self):
        self.calls.append(('resume',))
        return 'continuing'


@pytest.fixture
def out(tmp_path):
    (tmp_path / 'out' / 'sorts' / 's1').mkdir(parents=True)
    (tmp_path / 'out' / 'sorts' / 's1' / 'report.html').write_text('<p>report</p>')
    (tmp_path / 'secret.txt').write_text('SECRET-CONTENT')
    os.symlink(tmp_path / 'secret.txt', tmp_path / 'out' / 'link.txt')
    return tmp_path / 'out'


def _client(out, token=None, loopback=True, view=None, cmds=None):
    app = make_app(view or CellView(), cmds or Recorder(), out, token=token, loopback=loopback,
                   period_s=0.01)
    return TestClient(app, base_url=LOCAL if loopback else 'http://192.0.2.7:8080')


def test_resolve_token():
    assert resolve_token('127.0.0.1', None) is None
    assert resolve_token('localhost', None) is None
    assert resolve_token('::1', None) is None
    made = resolve_token('0.0.0.0', None)
    assert made and len(made) >= 16 and made != resolve_token('0.0.0.0', None)
    assert resolve_token('example.org', None)       # a name may resolve anywhere
    assert resolve_token('0.0.0.0', TOKEN) == TOKEN
    with pytest.raises(ValueError, match='16 characters'):
        resolve_token('0.0.0.0', 'short')


def test_safe_path_refuses_everything_outside(out):
    assert safe_path(out, 'sorts/s1/report.html').read_text() == '<p>report</p>'
    for bad in ('../secret.txt', 'sorts/../../secret.txt', '/etc/passwd', 'link.txt', '',
                'sorts/s1/../../../secret.txt', 'a\x00b', '.'):
        with pytest.raises(UnsafePath):
            safe_path(out, bad)
    with pytest.raises(FileNotFoundError):
        safe_path(out, 'sorts/none.html')


def test_files_served_only_from_the_output_folder(out):
    c = _client(out)
    assert c.get('/files/sorts/s1/report.html').text == '<p>report</p>'
    # every spelling of a way out: encoded dots and slashes, a symlink, an absolute path
    for bad in ('/files/../secret.txt', '/files/%2e%2e/secret.txt', '/files/link.txt',
                '/files/sorts/%2e%2e/%2e%2e/secret.txt', '/files/%2Fetc%2Fpasswd',
                '/files/sorts%2F..%2F..%2Fsecret.txt'):
        r = c.get(bad)
        assert r.status_code in (403, 404), (bad, r.status_code)
        assert 'SECRET' not in r.text, bad
    assert c.get('/files/sorts/nothing.html').status_code == 404


def test_open_on_loopback_and_host_header_checked(out):
    c = _client(out)
    assert c.get('/').status_code == 200 and 'sorting cell' in c.get('/').text
    assert c.get('/api/state').json()['feedback']['phase'] == 'idle'
    # DNS rebinding: a foreign Host on a loopback-bound page is refused
    assert c.get('/api/state', headers={'host': 'evil.example:8080'}).status_code == 400


def test_token_required_beyond_loopback(out):
    with pytest.raises(ValueError, match='needs a token'):
        make_app(CellView(), Recorder(), out, token=None, loopback=False)
    cmds = Recorder()
    c = _client(out, token=TOKEN, loopback=False, cmds=cmds)
    assert c.get('/').status_code == 200            # the page itself holds no data
    for path in ('/api/state', '/frame.jpg', '/files/sorts/s1/report.html', '/thumb/s/o'):
        assert c.get(path).status_code == 401, path
        assert c.get(path, params={'token': 'wrong-token-wrong-token'}).status_code == 401
    r = c.post('/api/sort', json={'num_boxes': 3})
    assert r.status_code == 401 and 'token' in r.json()['error']
    assert c.post('/api/cancel', json={}, headers={'X-Token': 'x' * 30}).status_code == 401
    assert cmds.calls == []                         # nothing reached the cell
    with pytest.raises(WebSocketDisconnect) as exc:
        with c.websocket_connect('/ws') as ws:
            ws.receive_text()
    assert exc.value.code == 1008
    # with the token: everything works
    assert c.get('/api/state', params={'token': TOKEN}).status_code == 200
    assert c.get('/files/sorts/s1/report.html', headers={'X-Token': TOKEN}).status_code == 200
    r = c.post('/api/sort', json={'num_boxes': 3}, headers={'X-Token': TOKEN})
    assert r.status_code == 200 and cmds.calls == [('start', 3)]
    with c.websocket_connect(f'/ws?token={TOKEN}') as ws:
        assert json.loads(ws.receive_text())['feedback']['phase'] == 'idle'


def test_commands(out):
    view, cmds = CellView(), Recorder()
    c = _client(out, view=view, cmds=cmds)
    assert c.post('/api/sort', json={'num_boxes': 2}).json()['message'].startswith('sort')
    assert c.post('/api/cancel', json={}).status_code == 200
    assert c.post('/api/continue', json={}).status_code == 200
    assert cmds.calls == [('start', 2), ('cancel',), ('resume',)]
    for bad in (0, 256, 'two', 2.5, True, None):
        r = c.post('/api/sort', json={'num_boxes': bad})
        assert r.status_code == 400 and 'num_boxes' in r.json()['error'], bad
    r = c.post('/api/sort', json={'num_boxes': 7})
    assert r.status_code == 409 and 'already running' in r.json()['error']
    assert view.snapshot()['messages'][-1]['error']
    # an unexpected failure is an answer too, on the page and in the reply
    r = c.post('/api/sort', json={'num_boxes': 13})
    assert r.status_code == 500 and 'context was shut down' in r.json()['error']
    assert view.snapshot()['messages'][-1] == {**view.snapshot()['messages'][-1], 'error': True,
                                               'text': 'sort: failed: RuntimeError: the ROS '
                                                       'context was shut down'}
    # cross-site: a form post (not JSON) and a foreign Origin are refused
    assert c.post('/api/sort', data={'num_boxes': '2'}).status_code == 415
    r = c.post('/api/sort', json={'num_boxes': 2},
               headers={'origin': 'http://evil.example'})
    assert r.status_code == 403
    assert c.post('/api/sort', json={'num_boxes': 2},
                  headers={'origin': LOCAL}).status_code == 200
    assert c.post('/api/reboot', json={}).status_code == 404
    assert cmds.calls[-1] == ('start', 2) and len(cmds.calls) == 6


def test_websocket_streams_state_and_frames(out):
    view = CellView()
    c = _client(out, view=view)
    with c.websocket_connect(f'{WS}/ws') as ws:
        first = json.loads(ws.receive_text())
        assert first['feedback']['phase'] == 'idle' and view.clients == 1
        view.set_feedback('s1', 'pick', 1, 4, 'obj1', 0)
        state = json.loads(ws.receive_text())
        assert state['feedback'] == {'sort_id': 's1', 'phase': 'pick', 'done': 1, 'total': 4,
                                     'current_object': 'obj1', 'current_box': 0}
        view.set_frame(b'\xff\xd8jpeg', 640, 480, 3)
        assert ws.receive_bytes() == b'\xff\xd8jpeg'
    with pytest.raises(WebSocketDisconnect):
        with c.websocket_connect(f'{WS}/ws', headers={'origin': 'http://evil.example'}) as ws:
            ws.receive_text()


def test_state_model():
    view = CellView()
    v0 = view.version
    view.set_feedback('s', 'cluster', 0, 3, '', -1)
    assert view.version == v0 + 1
    view.set_feedback('s', 'cluster', 0, 3, '', -1)     # unchanged: no news to send
    assert view.version == v0 + 1
    with pytest.raises(ValueError, match='unknown sort phase'):
        view.set_feedback('s', 'dance', 0, 3, '', -1)
    objs = [{'object_id': 'a', 'box': 0, 'state': 'done', 'reason': 'placed', 'attempts': 1},
            {'object_id': 'b', 'box': 1, 'state': 'failed', 'reason': 'unreachable: no IK',
             'attempts': 2},
            {'object_id': 'c', 'box': 0, 'state': 'pending', 'reason': '', 'attempts': 0}]
    view.set_sort({'sort_id': 's', 'num_boxes': 2, 'state': 'failed', 'message': 'x',
                   'objects': objs})
    snap = view.snapshot()
    assert snap['feedback']['phase'] == Phase.DONE.value     # the sort ended
    b0, b1 = snap['boxes']
    assert (b0['assigned'], b0['placed'], b1['failed']) == (['a', 'c'], ['a'], ['b'])
    assert b0['colour'] != b1['colour']
    with pytest.raises(ValueError):
        view.set_sort({'sort_id': 't', 'num_boxes': 1, 'objects': [
            {'object_id': 'a', 'box': 0, 'state': 'teleported'}]})
    view.set_health('sorter: goal', 'ERROR', 'no camera image', error=True)
    view.set_health('sorter: goal', 'OK', 'sort finished', error=False)
    h = view.snapshot()['health']['sorter: goal']
    assert h['level'] == 'OK' and h['last_error'] == 'no camera image'


def test_outline_and_sort_report(tmp_path):
    frame = np.full((120, 160, 3), 90, np.uint8)
    frame[20:40, 30:60] = 250
    drawn = outline(frame, [((30, 20, 60, 40), 0), ((80, 50, 120, 90), 1)])
    assert (drawn != frame).any() and (frame == 90).sum() + (frame == 250).sum() == frame.size
    assert tuple(drawn[20, 45]) != tuple(drawn[50, 100])   # two boxes, two colours
    log = SortLog(tmp_path / 'log')
    sid = log.begin(2, [LoggedObject('obj0', 0, info={'bbox': [30, 20, 60, 40]}),
                        LoggedObject('obj1', 1, info={'bbox': [80, 50, 120, 90]})],
                    snapshot={'frame': frame})
    log.mark_started(sid, 'obj0')
    log.mark_outcome(sid, 'obj0', True, 'placed')
    log.mark_outcome(sid, 'obj1', False, 'unreachable: no IK solution')
    page = write_sort_report(log, sid, tmp_path / 'out')
    text = page.read_text()
    assert 'unreachable: no IK solution' in text and text.count('<img') == 2
    assert list_reports(tmp_path / 'out') == [
        {'sort_id': sid, 'url': f'files/sorts/{sid}/report.html'}]
    with pytest.raises(KeyError):
        write_sort_report(log, 'nope', tmp_path / 'out')
