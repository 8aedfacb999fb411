"""The plain-float area walk answers exactly as the NumPy walk it replaced, and fast."""

from __future__ import annotations

import random

import numpy as np

from ops_center.core import geo
from ops_center.core.point_locator import PointLocator


def numpy_nearest(tree: dict, x: float, y: float) -> str | None:
    """The tree walk as GeoIndex.nearest did it with NumPy (the reference)."""
    found = node = None
    while (entry := tree.get(node)) is not None:
        codes, pts = entry
        d = (pts[:, 0] - x) ** 2 + (pts[:, 1] - y) ** 2
        found = node = codes[int(np.argmin(d))]
    return found


def numpy_inside(poly: np.ndarray, x: float, y: float) -> bool:
    """Point in a counter-clockwise convex polygon (edges included), as geo._inside_convex did it."""
    e = np.roll(poly, -1, axis=0) - poly
    cross = e[:, 0] * (y - poly[:, 1]) - e[:, 1] * (x - poly[:, 0])
    return bool(np.all(cross >= -1e-9))


def reference(idx: geo.GeoIndex, x: float, y: float) -> str | None:
    return numpy_nearest(idx.tree, x, y) if numpy_inside(idx.domain, x, y) else None


def test_same_answers_as_numpy_walk(cfg):
    idx = geo.index_for(cfg)
    loc = PointLocator(idx.tree, idx.domain)
    rnd = random.Random(11)
    xs = idx.domain[:, 0]
    ys = idx.domain[:, 1]
    points = [(rnd.uniform(xs.min() - 500, xs.max() + 500), rnd.uniform(ys.min() - 500, ys.max() + 500))
              for _ in range(20_000)]
    # centroids, midpoints between siblings (ties) and the outline's own corners (edges included)
    points += list(idx.xy.values()) + [tuple(p) for p in idx.domain.tolist()]
    for codes, pts in idx.tree.values():
        points += [tuple((pts[i] + pts[i + 1]) / 2) for i in range(len(codes) - 1)]
    outside = 0
    for x, y in points:
        want = reference(idx, x, y)
        assert loc.locate(x, y) == want, (x, y)
        assert loc.nearest(x, y) == numpy_nearest(idx.tree, x, y), (x, y)
        outside += want is None
    assert 0 < outside < len(points)  # both sides of the outline were exercised


def test_nan_is_outside(cfg):
    idx = geo.index_for(cfg)
    loc = PointLocator(idx.tree, idx.domain)
    assert loc.locate(float("nan"), 0.0) is None and numpy_inside(idx.domain, float("nan"), 0.0) is False


def test_repeat_is_remembered_and_at_point_agrees(cfg):
    idx = geo.index_for(cfg)
    grid = next(a for a in cfg.areas.items if len(a.code) == 15)
    assert idx.at_point(*grid.centroid) == grid.code
    assert idx.at_point(*grid.centroid) == grid.code  # second call: the remembered answer
    lat, lon = grid.centroid
    assert idx.at_point(lat + 5, lon) is None
