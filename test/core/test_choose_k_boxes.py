"""Choosing the number of groups, and placing new rows into the boxes of a sort."""
import numpy as np
import pytest

from sorting_cell.perception import Description, assign
from sorting_cell.perception.boxes import Boxes, Match, continue_boxes, place
from sorting_cell.perception.choose_k import choose_k


def _blobs(k, per, dim=20, spread=0.15, seed=0, centers=None):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, dim)) * 3 if centers is None else centers
    X = np.vstack([c + spread * rng.normal(size=(per, dim)) for c in centers])
    return np.abs(X), np.repeat(np.arange(len(centers)), per), centers


@pytest.mark.parametrize('k', [2, 4, 7])
def test_choose_k_recovers_separated_groups(k):
    X, _, _ = _blobs(k, 15, seed=k)
    choice = choose_k(X, k_max=10)
    assert choice.k == k
    assert set(choice.curve) == set(range(2, 11)) and choice.margin > 0
    assert max(choice.silhouette, key=choice.silhouette.get) == k


def test_choose_k_respects_k_max_and_bad_input():
    X, _, _ = _blobs(6, 10)
    assert choose_k(X, k_max=4).k <= 4
    with pytest.raises(ValueError, match='k_max must be an integer >= 2'):
        choose_k(X, k_max=1)
    with pytest.raises(ValueError, match='at least 3'):
        choose_k(X[:2])
    with pytest.raises(ValueError, match='all the same'):
        choose_k(np.ones((10, 3)))


def test_assign_auto_records_the_choice():
    X, y, _ = _blobs(5, 12, seed=3)
    d = Description.of_features(X)
    labels = assign(d, 'auto', k_max=8)
    assert len(np.unique(labels)) == 5
    ev = d.decisions['number_of_groups'].evidence
    assert ev['k'] == 5 and ev['k_max'] == 8


def test_place_puts_rows_in_their_box_and_flags_an_unseen_group():
    X, y, centers = _blobs(5, 16, seed=1)
    seen = y < 4
    first = seen & (np.arange(len(y)) % 2 == 0)
    second = ~first
    d = Description.of_features(X)
    boxes = Boxes.of(d.subset(np.flatnonzero(first)), assign(d.subset(np.flatnonzero(first)), 4))
    p = place(boxes, d.subset(np.flatnonzero(second)))
    box_of = {c: boxes.labels[y[first] == c][0] for c in range(4)}
    y2 = y[second]
    assert p.new_kind.tolist() == (y2 == 4).tolist()
    assert all(p.labels[i] == box_of[c] for i, c in enumerate(y2) if c < 4)
    # Without room for a new kind, everything goes into a box.
    assert not place(boxes, d.subset(np.flatnonzero(second)), new_kinds=0).new_kind.any()


def test_boxes_round_trip_and_clear_errors(tmp_path):
    X, y, _ = _blobs(3, 6)
    boxes = Boxes(rows=X.astype(np.float32), labels=y, params={'features': 'hog'},
                  sources=[f's{i}' for i in range(len(y))])
    boxes.save(tmp_path / 'b.npz')
    back = Boxes.load(tmp_path / 'b.npz')
    assert np.array_equal(back.rows, boxes.rows) and back.labels.tolist() == y.tolist()
    assert back.params == {'features': 'hog'} and back.sizes is None and back.k == 3
    (tmp_path / 'bad.npz').write_bytes(b'not an archive')
    with pytest.raises(ValueError, match='not a boxes file'):
        Boxes.load(tmp_path / 'bad.npz')
    with pytest.raises(ValueError, match='feature columns'):
        place(boxes, Description.of_features(np.ones((2, 5))))


def test_continue_boxes_uses_a_free_box_then_reports_no_box():
    X, y, _ = _blobs(4, 16, seed=5)
    first = (y < 3) & (np.arange(len(y)) % 2 == 0)
    d = Description.of_features(X)
    a, b = d.subset(np.flatnonzero(first)), d.subset(np.flatnonzero(~first))
    boxes = Boxes.of(a, assign(a, 3))
    box_of = {c: boxes.labels[y[first] == c][0] for c in range(3)}
    y2 = y[~first]
    # Four boxes, three filled: the unseen group gets box 3, the rest their kind's box.
    labels, match = continue_boxes(boxes, b, 4)
    assert labels.tolist() == [3 if c == 3 else box_of[c] for c in y2]
    assert match.tolist() == [Match.FREE_BOX if c == 3 else Match.BOX for c in y2]
    # No free box: the unseen group gets none.
    labels, match = continue_boxes(boxes, b, 3)
    assert labels[y2 == 3].tolist() == [-1] * int((y2 == 3).sum())
    assert set(match[y2 == 3]) == {Match.NEW_KIND_NO_BOX}
    with pytest.raises(ValueError, match='>= the 3 boxes'):
        continue_boxes(boxes, b, 2)
