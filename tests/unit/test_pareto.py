"""The Pareto front of the report's accuracy-energy figures against a plain O(n^2) loop over
hand-made points (ties included), and one front worked out by hand."""

import random

import pytest

from analog_ep.report.figures import pareto_front


def _dominated(i, e, a):
    """Point i is dominated when some other point has at most its energy and at least its
    accuracy, one of the two strictly."""
    return any((e[j] <= e[i] and a[j] >= a[i]) and (e[j] < e[i] or a[j] > a[i]) for j in range(len(e)) if j != i)


def test_front_by_hand():
    e = [1.0, 2.0, 3.0, 2.0, 0.5, 3.0, 3.0]
    a = [0.5, 0.7, 0.9, 0.6, 0.4, 0.9, 0.8]
    # 0.5 J / 0.4: cheapest; 1 J / 0.5; 2 J / 0.7 (beats 2 J / 0.6); 3 J / 0.9 twice (equal points
    # do not dominate each other); 3 J / 0.8 is dominated by 2 J / 0.7? no: by 3 J / 0.9
    assert pareto_front(e, a) == [True, True, True, False, True, True, False]


@pytest.mark.parametrize("seed", range(20))
def test_front_equals_the_quadratic_loop(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 30)
    e = [float(rng.randint(1, 8)) for _ in range(n)]  # few distinct values: many ties
    a = [rng.randint(0, 6) / 6 for _ in range(n)]
    assert pareto_front(e, a) == [not _dominated(i, e, a) for i in range(n)]


def test_front_empty_and_mismatched():
    assert pareto_front([], []) == []
    with pytest.raises(ValueError):
        pareto_front([1.0, 2.0], [0.5])
