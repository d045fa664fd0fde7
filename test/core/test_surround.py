"""Question 4: whole images that show one object in a plain surround are cropped to it."""
import numpy as np

from sorting_cell.perception import Describer
from sorting_cell.perception.evidence import surround_box, surround_decision


def pasted(rng, shape=(300, 400), at=(120, 200), size=(60, 80), colour=(40, 90, 160)):
    """A flat canvas with a noisy textured patch pasted at ``at`` (row, col)."""
    frame = np.empty((*shape, 3), np.uint8)
    frame[:] = colour
    frame += rng.integers(0, 6, frame.shape, dtype=np.uint8)  # sensor noise stays surround
    y, x = at
    frame[y:y + size[0], x:x + size[1]] = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    return frame


def test_box_of_a_pasted_photo_with_its_margin():
    rng = np.random.default_rng(0)
    box = surround_box(pasted(rng))
    # the patch spans x 200..280, y 120..180; 5% of its side is kept around it
    assert box == (196, 117, 284, 183)


def test_no_box_for_textured_borders_or_objects_that_fill_the_frame():
    rng = np.random.default_rng(1)
    texture = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    assert surround_box(texture) is None
    big = pasted(rng, shape=(100, 100), at=(5, 5), size=(90, 90))
    assert surround_box(big) is None
    flat = np.full((50, 60, 3), 128, np.uint8)
    assert surround_box(flat) is None  # nothing stands out


def test_decision_needs_most_images():
    rng = np.random.default_rng(2)
    textures = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(3)]
    two = [pasted(rng), pasted(rng, at=(10, 10))]
    no, boxes = surround_decision(textures + two)
    assert not no.value and boxes == [None] * 5 and no.evidence['surrounded'] == 0.4
    yes, boxes = surround_decision(textures[:1] + two)
    assert yes.value and boxes[0] is None and boxes[1] is not None


def test_describer_describes_the_box_and_reports_the_decision():
    rng = np.random.default_rng(3)
    # different pixel sizes: not one fixed camera, so no objects are segmented
    frames = [pasted(rng, shape=(300 + 20 * i, 400), at=(30 + 30 * i, 40 + 40 * i),
                     colour=(i * 50, 80, 20)) for i in range(4)]
    d = Describer().images(frames)
    assert not d.decisions['objects'].value and d.decisions['surround'].value
    assert all(c.shape[:2] == (66, 88) for c in d.crops)
    assert d.features.shape[0] == 4
    # Cropped objects are turned as segmented ones are, with no decision left for later.
    assert d.decisions['turn'].value and 'plain surround' in d.decisions['turn'].reason
    assert d.turn_views is None
    whole = Describer(proposer='none').images(frames)
    assert 'surround' not in whole.decisions  # forced whole images stay whole
    assert [c.shape for c in whole.crops] == [f.shape for f in frames]


def test_large_frames_are_answered_at_a_coarse_scale_in_frame_pixels():
    rng = np.random.default_rng(4)
    frame = pasted(rng, shape=(960, 1280), at=(400, 600), size=(240, 320))
    x0, y0, x1, y1 = surround_box(frame)
    # the patch spans x 600..920, y 400..640; the box holds it with a small margin
    assert 570 <= x0 <= 600 and 380 <= y0 <= 400 and 920 <= x1 <= 950 and 640 <= y1 <= 660


def test_cli_reports_the_surround_decision(tmp_path):
    import json

    import cv2

    from sorting_cell.cli import main
    rng = np.random.default_rng(5)
    for i in range(4):
        cv2.imwrite(str(tmp_path / f'{i}.png'),
                    pasted(rng, shape=(300 + 20 * i, 400), at=(40 + 20 * i, 60)))
    out = tmp_path / 'out'
    assert main(['cluster', str(tmp_path), '-k', '2', '--out', str(out), '--no-progress']) == 0
    decided = json.loads((out / 'summary.json').read_text())['decisions']
    assert decided['surround']['value'] and decided['surround']['evidence']['surrounded'] == 1.0
    assert 'flat surround' in (out / 'report.html').read_text()
