"""The area-tree walk for one point in plain floats: locating a 12345 row must cost microseconds, not NumPy calls.

`GeoIndex` keeps its tree and district outline as NumPy arrays (the polygon maths wants them); a
NumPy call on a dozen centroids costs more in dispatch than the arithmetic, and every hotline row and
grid report is located once or twice (locate, then the outside-the-site check). This holds the same
numbers as tuples of Python floats and does the same float operations in the same order, so it
returns exactly what the array version does (tests/test_point_locator.py compares them).
"""

from __future__ import annotations

import math

import numpy as np


class PointLocator:
    """Nearest child centroid at each level, inside a convex outline; the last answer is remembered."""

    __slots__ = ("_children", "_edges", "_last")

    def __init__(self, tree: dict[str | None, tuple[tuple[str, ...], np.ndarray]], outline: np.ndarray):
        self._children = {
            parent: tuple((code, float(x), float(y)) for code, (x, y) in zip(codes, pts.tolist(), strict=True))
            for parent, (codes, pts) in tree.items()
        }
        nxt = np.roll(outline, -1, axis=0)
        # per edge: start point and direction, as _inside_convex computes them
        self._edges = tuple((float(px), float(py), float(ex), float(ey)) for (px, py), (ex, ey)
                            in zip(outline.tolist(), (nxt - outline).tolist(), strict=True))
        self._last: tuple[float, float, str | None] = (math.nan, math.nan, None)

    def nearest(self, x: float, y: float) -> str | None:
        """Walk down the tree choosing the nearest child centroid (the first of equals); the deepest reached."""
        children = self._children
        found = node = None
        while (entry := children.get(node)) is not None:
            best, best_d = None, math.inf
            for code, cx, cy in entry:
                dx, dy = cx - x, cy - y
                d = dx * dx + dy * dy
                if d < best_d:
                    best, best_d = code, d
            if best is None:  # NaN distances: NumPy's argmin would pick the first
                best = entry[0][0]
            found = node = best
        return found

    def inside(self, x: float, y: float) -> bool:
        """Point in the counter-clockwise convex outline, edges included."""
        for px, py, ex, ey in self._edges:
            if not ex * (y - py) - ey * (x - px) >= -1e-9:  # written so that NaN is outside, as in NumPy
                return False
        return True

    def locate(self, x: float, y: float) -> str | None:
        """The deepest area whose centroid walk reaches (x, y), None outside the outline; repeats are free."""
        last = self._last
        if last[0] == x and last[1] == y:
            return last[2]
        code = self.nearest(x, y) if self.inside(x, y) else None
        self._last = (x, y, code)
        return code
