"""The operator's page in a real browser: Debian's Chromium, headless, driven by selenium
through Debian's chromedriver. ``sorting-cell up sim --ui`` runs the simulated cell with the
page; the browser opens it, starts a sort with the page's button, sees every outcome appear,
then (on a fresh tray) starts a second sort and cancels it from the page. Screenshots go to
the test's tmp folder."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'nodes'))
from rosproc import domain_for, node_logs, ros_env, stop_session  # noqa: E402

pytestmark = pytest.mark.browser

CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'
BOXES, OBJECTS, SEED = 2, 3, 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _until(predicate, timeout: float, what: str, logs=lambda: ''):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - not there yet (page loading, server starting)
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f'timed out after {timeout:.0f} s waiting for {what}\n{logs()}')


def _browser():
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        if os.geteuid() != 0:
            pytest.skip('chromium/chromium-driver not installed (scripts/setup.sh installs '
                        'them when run as root)')
        pytest.fail(f'{CHROMIUM} or {CHROMEDRIVER} missing: run scripts/setup.sh')
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                '--window-size=1280,1000', '--disable-extensions', '--no-first-run'):
        opts.add_argument(arg)
    # An explicit driver path: Selenium Manager never downloads anything.
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def _reset_tray(domain: int, seed: int, sim_log: Path, logs) -> None:
    """A new tray in the sim (its ``sim/reset`` topic), so a second sort has objects."""
    import rclpy

    from sorting_cell.nodes.sim_probe import SimProbe
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    probe = SimProbe(ctx, name='ui_test_reset')
    try:
        _until(probe.sim_listening, 30.0, 'the sim on sim/reset', logs)
        probe.reset(seed)
        # the publisher stays until the sim has acted on it (else the message may be lost)
        _until(lambda: f'tray reset with seed {seed}' in sim_log.read_text(), 60.0,
               'the sim to reset its tray', logs)
    finally:
        probe.close()
        rclpy.try_shutdown(context=ctx)


def test_page_in_chromium_starts_shows_and_cancels_sorts(tmp_path):
    driver = _browser()
    domain, port = domain_for(__name__), _free_port()
    out = tmp_path / 'out'
    params = {'sim.num_boxes': BOXES, 'sim.n_objects': OBJECTS, 'sim.seed': SEED,
              'sim.real_time_factor': 3.0, 'sim.camera_rate': 5.0,
              'sorter.sort_log_dir': tmp_path / 'sortlog', 'sorter.snapshot_timeout': 20.0,
              # known here: the sorter need not ask the (slow to start, when loaded) sim
              'sorter.arm.num_boxes': BOXES, 'sorter.arm.server_timeout': 30.0}
    cmd = [str(Path(sys.executable).with_name('sorting-cell')), 'up', 'sim', '--transport',
           'local', '--log-dir', str(tmp_path / 'logs'), '--exit-on-failure', '--ui',
           '--ui-port', str(port), '--ui-out', str(out)]
    for key, value in params.items():
        cmd += ['-p', f'{key}:={value}']
    env = dict(ros_env(domain), MUJOCO_GL=os.environ.get('MUJOCO_GL', 'egl'))
    up = subprocess.Popen(cmd, env=env, stdout=open(tmp_path / 'up.log', 'w'),
                          stderr=subprocess.STDOUT, start_new_session=True)
    logs = lambda: node_logs(tmp_path)  # noqa: E731
    url = f'http://127.0.0.1:{port}/'
    js = driver.execute_script
    try:
        _until(lambda: urllib.request.urlopen(url + 'api/state', timeout=2).status == 200,
               90.0, 'the page to answer', logs)
        driver.get(url)
        _until(lambda: driver.find_element('id', 'conn').text == 'live', 20.0,
               'the WebSocket', logs)
        # the live camera image, and the sorter's heartbeat, before the operator starts
        _until(lambda: js('return document.getElementById("camera").naturalWidth') > 0,
               120.0, 'a camera frame on the page', logs)
        _until(lambda: driver.find_element('id', 'sorter').text == 'sorter alive', 60.0,
               'the sorter heartbeat', logs)
        assert driver.find_element('css selector', 'tr[data-node="sorter"]')

        box_input = driver.find_element('id', 'num-boxes')
        box_input.clear()
        box_input.send_keys(str(BOXES))
        driver.find_element('id', 'start').click()
        # the page answers the click (accepted, or why not) before the plan shows
        said = _until(lambda: 'sort:' in (m := driver.find_element('id', 'messages').text)
                      and m, 90.0, 'the answer to the start on the page', logs)
        assert 'accepted' in said, f'{said}\n{logs()}'
        _until(lambda: js('return document.querySelectorAll("tr.outcome").length') == OBJECTS,
               240.0, 'the sort plan on the page', logs)
        driver.save_screenshot(str(tmp_path / 'ui_sorting.png'))
        state = _until(lambda: js('return document.getElementById("sort-state")'
                                  '.dataset.state') in ('succeeded', 'failed') and
                       js('return document.getElementById("sort-state").dataset.state'),
                       400.0, 'the sort to end on the page', logs)
        rows = js('return [...document.querySelectorAll("tr.outcome")].map('
                  'r => [r.dataset.state, r.cells[3].textContent])')
        assert len(rows) == OBJECTS, rows
        assert all(s in ('done', 'failed') and reason for s, reason in rows), rows
        assert sum(s == 'done' for s, _ in rows) >= OBJECTS - 1, rows   # one pick may fail
        assert (state == 'succeeded') == all(s == 'done' for s, _ in rows), (state, rows)
        # every box shows its objects' thumbnails (cut from the sort's snapshot)
        _until(lambda: js('const t = [...document.querySelectorAll(".tiles img")];'
                          'return t.length === %d && t.every(i => i.naturalWidth > 0)'
                          % OBJECTS), 20.0, 'thumbnails', logs)
        # read in one script: the page redraws its lists on every update
        report = _until(lambda: js('const a = document.querySelector("a.report");'
                                   'return a && a.href'), 20.0, 'a link to the report', logs)
        driver.save_screenshot(str(tmp_path / 'ui_sorted.png'))
        driver.get(report)
        assert 'placed' in driver.page_source and '<h1>sort ' in driver.page_source

        # a second sort on a fresh tray, cancelled from the page while it picks
        _reset_tray(domain, SEED + 1, tmp_path / 'logs' / 'sim.log', logs)
        driver.get(url)
        _until(lambda: driver.find_element('id', 'conn').text == 'live', 20.0, 'WebSocket')
        first = js('return document.getElementById("sort-state").dataset.sortId')
        assert first
        # perception sees the new tray: its objects are outlined on the page's camera image
        _until(lambda: json.loads(urllib.request.urlopen(url + 'api/state', timeout=2).read())
               ['frame']['outlined'] >= 1, 240.0, 'the new tray outlined on the camera', logs)
        driver.find_element('id', 'start').click()
        _until(lambda: driver.find_element('id', 'phase').text == 'pick' and js(
            'return document.getElementById("sort-state").dataset.sortId') not in ('', first),
            240.0, 'the second sort to pick', logs)
        driver.find_element('id', 'cancel').click()
        _until(lambda: js('return document.getElementById("sort-state").dataset.state')
               == 'canceled', 60.0, 'the second sort to be cancelled', logs)
        rows = js('return [...document.querySelectorAll("tr.outcome")].map(r => r.dataset.state)')
        assert 'pending' in rows, rows              # cancelled before the end: resumable
        messages = driver.find_element('id', 'messages').text
        assert 'cancel accepted' in messages, messages
        driver.save_screenshot(str(tmp_path / 'ui_canceled.png'))
        for name in ('ui_sorting.png', 'ui_sorted.png', 'ui_canceled.png'):
            assert (tmp_path / name).stat().st_size > 10_000, name
        if os.environ.get('SORTING_CELL_UI_SCREENSHOT'):
            shutil.copy(tmp_path / 'ui_sorted.png', os.environ['SORTING_CELL_UI_SCREENSHOT'])
    finally:
        driver.quit()
        stop_session(up)
