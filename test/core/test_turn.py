"""The turn decision: whole images with an up are seen as they are, turned ones turned."""
import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score as nmi

from sorting_cell.bench.image_sets import GLYPHS, build_image_set
from sorting_cell.images import load_image
from sorting_cell.perception import Describer, assign
from sorting_cell.perception.turn import MIN_PER_GROUP, TurnViews, decide_turn, trimmed


@pytest.fixture(scope='module')
def letters(tmp_path_factory):
    """Upright letters (the glyphs set, 50 of each), and the truth."""
    folder = tmp_path_factory.mktemp('glyphs')
    build_image_set('glyphs', folder, seed=1)
    paths = sorted(folder.glob('*/*.png'))
    return [load_image(p) for p in paths], [p.parent.name for p in paths]


def test_letters_have_an_up_and_the_same_letters_turned_at_random_do_not(letters):
    images, truth = letters
    k = len(GLYPHS)
    upright = Describer(proposer='none').images(images)
    assert upright.decisions['turn'].evidence == {'pending': True}
    labels = assign(upright, k)
    decision = upright.decisions['turn']
    assert decision.value is False and 'has an up' in decision.reason
    assert upright.turn_views is None            # decided once, the chosen rows kept
    plain = Describer(proposer='none', turn=False).images(images)
    assert np.allclose(upright.views[0], plain.views[0], atol=1e-5)
    assert nmi(truth, labels) == pytest.approx(nmi(truth, assign(plain, k)))

    # Half of the same letters upside down: now a turned view is another image of the set.
    rng = np.random.default_rng(0)
    mixed = [im[::-1, ::-1].copy() if rng.random() < 0.5 else im for im in images]
    either = Describer(proposer='none').images(mixed)
    assign(either, k)
    assert either.decisions['turn'].value is True
    assert 'either way up' in either.decisions['turn'].reason
    # What the turn does for it: the upside-down letters join their kind.
    as_is = Describer(proposer='none', turn=False).images(mixed)
    assert nmi(truth, assign(either, k)) > nmi(truth, assign(as_is, k)) + 0.05


def test_segmented_objects_one_group_and_small_sets_are_turned_without_a_decision():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 4))
    one = decide_turn(TurnViews.of(X, X, X), 1, 'whitened')
    assert one.value is True and 'nothing to compare' in one.reason
    X = rng.normal(size=(2 * MIN_PER_GROUP - 1, 4))
    few = decide_turn(TurnViews.of(X, X, X), 2, 'whitened')
    assert few.value is True and 'too few' in few.reason
    images = [np.full((64, 64, 3), 30, np.uint8) for _ in range(8)]
    for i, im in enumerate(images):
        im[20:44, 8 + 2 * i:40 + 2 * i] = 220        # one bright bar each, at varying places
    d = Describer(proposer='saliency').images(images)
    assert d.decisions['objects'].value and d.turn_views is None
    assert d.decisions['turn'].value is True and 'either way round' in d.decisions['turn'].reason


def test_trimmed_view_cuts_a_twentieth_off_each_side():
    im = np.zeros((200, 100, 3), np.uint8)
    assert trimmed(im).shape == (180, 90, 3) and trimmed(im).flags['C_CONTIGUOUS']


def test_detections_without_masks_are_objects_and_turned():
    from sorting_cell.regions import Region
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 255, (40, 60, 3), dtype=np.uint8) for _ in range(70)]
    regions = [Region(box=(0, 0, 60, 40), mask=np.ones((40, 60), bool), crop=c, score=1.0)
               for c in crops]
    d = Describer().regions(regions)
    assert not d.decisions['objects'].value       # no masks, yet found as objects
    assert d.turn_views is None and d.decisions['turn'].value is True
