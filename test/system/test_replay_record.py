"""`sorting-cell record` (live, its own process) captures what `sorting-cell replay` plays;
Ctrl-C closes the bag properly and the frames are bit-identical to the source bag."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sorting_cell import bags
from rosproc import ros_env

DOMAIN = 211 + os.getpid() % 11
SORTING_CELL = str(Path(sys.executable).with_name('sorting-cell'))


def test_record_live_replay_round_trip(tmp_path, tools_root):
    source = tmp_path / 'source'
    bags.bag_from_tools(source, condition=4, root=tools_root, per_class=1, rate_hz=10.0)
    env = ros_env(DOMAIN)
    out = tmp_path / 'recorded'
    recorder = subprocess.Popen([SORTING_CELL, 'record', str(out), '--topics',
                                 'camera/image_raw', 'camera/camera_info'], env=env,
                                stderr=subprocess.PIPE, text=True)
    try:
        replay = subprocess.run([SORTING_CELL, 'replay', str(source),
                                 '--wait-for-subscribers', '1'], env=env, capture_output=True,
                                text=True, timeout=90)
        assert replay.returncode == 0, replay.stderr
        time.sleep(1.0)  # the last reliable samples reach the recorder
        recorder.send_signal(signal.SIGINT)
        _, err = recorder.communicate(timeout=30)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
    assert recorder.returncode == 0, err
    assert f'wrote {out}' in err
    summary = bags.summarize(out)  # metadata.yaml was written on Ctrl-C
    assert summary.counts == {'/camera/image_raw': 7, '/camera/camera_info': 7}
    original = list(bags.read_images(source))
    copy = list(bags.read_images(out))
    for (_, a, ma), (_, b, mb) in zip(original, copy):
        np.testing.assert_array_equal(a, b)
        assert ma.header.stamp == mb.header.stamp  # replay keeps the recorded stamps
    gaps = np.diff([t for t, _, _ in copy]) / 1e9  # receive times in the new bag
    assert np.median(gaps) == pytest.approx(0.1, abs=0.03)
