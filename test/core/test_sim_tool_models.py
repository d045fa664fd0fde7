"""The tool dataset's own tools as simulated objects: scale from the USB plugs, a tool
built from its photo at real size, textured."""
import json
import os

import numpy as np
import pytest

pytest.importorskip('trimesh')
pytest.importorskip('coacd')
os.environ.setdefault('MUJOCO_GL', 'egl')

from sorting_cell.sim import tool_models  # noqa: E402


@pytest.fixture(scope='module')
def condition1(tools_root):
    from sorting_cell.datasets import load_tools
    images = load_tools(tools_root, conditions=[1])
    masks = tool_models._masks_by_condition(images, [1])
    return images, masks


def test_usb_plugs_give_a_plausible_scale(condition1):
    images, masks = condition1
    scales = tool_models.tool_scales(images, masks)
    # 640 px frames of a table top a tool or two across: 0.2-0.5 mm per pixel
    assert 0.0002 < scales[1] < 0.0005
    # three quarters of the USB photos agree with the median within 25 % (masks blur by a
    # pixel or two and some catch a shadow: the median is what makes the scale robust)
    widths = [tool_models.plug_width_px(m) for i, (m, border, n) in masks.items()
              if images[i].label == 'usb' and n == 1 and not border]
    assert len(widths) >= 8
    assert np.percentile(np.abs(np.array(widths) * scales[1] / 0.012 - 1), 75) < 0.25


def test_a_tool_is_built_from_its_photo_at_real_size(condition1, tmp_path):
    images, masks = condition1
    scales = tool_models.tool_scales(images, masks)
    chosen = tool_models._choose_shots(images, masks, scales)
    assert len(chosen) == 28
    i = chosen['pen/1']
    assert images[i].object_id == 'pen/1'
    folder = tool_models.build_tool(tool_models._rgb(images[i].path), masks[i][0], scales[1],
                                    tmp_path / 'pen', 'pen', 'pen/1', source='test')
    meta = json.loads((folder / 'object.json').read_text())
    # a ballpoint pen: 12-16 cm long, about a centimetre wide
    assert 0.11 < meta['length'] < 0.165 and 0.006 < meta['width'] < 0.03
    assert meta['height'] >= 0.009 and 0.005 < meta['mass'] < 0.2
    import imageio.v3 as iio
    tex = iio.imread(folder / 'texture.png')
    # the texture is the photo strip, long side horizontal, at the photo's own resolution
    assert tex.shape[1] > 2 * tex.shape[0]
    assert abs(tex.shape[1] * scales[1] - meta['length']) < 0.01
