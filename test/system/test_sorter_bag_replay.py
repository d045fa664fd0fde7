"""Tool-dataset bag -> replay node -> proposals node -> clustering node, on real DDS.

Protocol C over ROS: all 112 photos of one condition, in a seeded random order, are
replayed from a rosbag2 file as a camera stream. The proposals node learns the empty table
from the first frames (fixed camera) and sends the view the offline pipeline describes;
the clustering node accumulates one object per frame and clusters the window into 7 boxes.
Its assignments must score what ``sorting-cell cluster`` scores on the same frames.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'nodes'))
from rosproc import domain_for  # noqa: E402

from sorting_cell import bags  # noqa: E402
from sorting_cell.nodes.replay_check import compare_offline_and_nodes  # noqa: E402

CONDITION, N_BOXES = 3, 7


def _stream(tools_root):
    folder = Path(tools_root) / f'conditions{CONDITION}'
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    images, labels = [], []
    for c, name in enumerate(classes):
        files = bags.list_images(folder / name, recursive=False)
        images += files
        labels += [c] * len(files)
    order = np.random.default_rng(0).permutation(len(images))
    return [images[i] for i in order], np.asarray(labels)[order]


def test_bag_replay_through_the_nodes_scores_what_offline_scores(tools_root, tmp_path):
    images, labels = _stream(tools_root)
    assert len(images) == 112
    r = compare_offline_and_nodes(images, labels, N_BOXES, background_frames=24,
                                  workdir=tmp_path, domain_id=domain_for(__name__))
    print(f"condition {CONDITION}: offline NMI {r['offline']['nmi']:.3f}, "
          f"nodes NMI {r['nodes']['nmi']:.3f}")
    assert r['same_frames']                      # every frame clustered, once
    assert r['offline']['nmi'] > 0.9
    assert abs(r['nodes']['nmi'] - r['offline']['nmi']) <= 0.02
    assert 'background model learnt from the first 24 frames' in (
        tmp_path / 'logs' / 'proposals.log').read_text()
