"""Where things are: locate an event in the area tree, and draw area polygons that work offline.

Without real boundaries (`areas.geojson_path`) an area's schematic cell is the part of its
parent's cell nearer to its centroid than to any sibling's (a Voronoi cell clipped to the parent);
the district's cell is the convex hull of all centroids grown by 600 m. Locating a lat/lon walks
the same tree (nearest child centroid at each level), so the map and `locate` always agree.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ops_center.core.area_codes import LEVEL_LENGTHS
from ops_center.core.config import AreaConfig, Config
from ops_center.core.point_locator import PointLocator
from ops_center.core.yamlsource import SourceError

log = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_008.8
BUFFER_M = 600.0  # how far the schematic district outline reaches beyond the outermost centroid


class GeoError(SourceError):
    """The configured GeoJSON cannot be used; message `FILE:LINE: …` like every config error."""


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres; good to ~0.5 % anywhere, exact enough for correlation radii."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def children(cfg: Config, code: str) -> tuple[AreaConfig, ...]:
    """Configured children of an area (or of the city, for its code), in config order."""
    return cfg.children_of.get(code, ())


# --- planar helpers: metres east/north of the site's reference point ---------------------------


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (Andrew's monotone chain), counter-clockwise, no repeated end point."""
    pts = sorted(set(map(tuple, points.tolist())))
    if len(pts) < 3:
        return np.array(pts, dtype=float)

    def half(seq: list) -> list:
        out: list = []
        for p in seq:
            while (
                len(out) >= 2
                and (out[-1][0] - out[-2][0]) * (p[1] - out[-2][1]) - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])
                <= 0
            ):
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1], dtype=float)


def _clip(poly: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Keep the part of a convex polygon where p·normal <= offset (Sutherland–Hodgman, one plane)."""
    if len(poly) == 0:
        return poly
    d = poly @ normal - offset
    out = []
    for i in range(len(poly)):
        j = (i + 1) % len(poly)
        if d[i] <= 0:
            out.append(poly[i])
        if (d[i] < 0 < d[j]) or (d[j] < 0 < d[i]):
            t = d[i] / (d[i] - d[j])
            out.append(poly[i] + t * (poly[j] - poly[i]))
    return np.array(out, dtype=float).reshape(-1, 2)


def _inside_rings(rings: list[np.ndarray], x: float, y: float) -> bool:
    """Even-odd rule over all rings of a (multi)polygon, so holes are holes."""
    inside = False
    for ring in rings:
        x0, y0 = ring[:, 0], ring[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xs = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= bool(np.count_nonzero(crosses & (x < xs)) % 2)
    return inside


class GeoIndex:
    """Everything `locate` and `area_polygons` need, precomputed once per Config."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        items = cfg.areas.items
        lats = np.array([a.centroid[0] for a in items])
        lons = np.array([a.centroid[1] for a in items])
        self.lat0, self.lon0 = float(lats.mean()), float(lons.mean())
        self.kx = math.radians(1) * EARTH_RADIUS_M * math.cos(math.radians(self.lat0))
        self.ky = math.radians(1) * EARTH_RADIUS_M
        self.xy = {a.code: self.to_xy(*a.centroid) for a in items}
        by_code = cfg.area_by_code
        self.tree: dict[str | None, tuple[tuple[str, ...], np.ndarray]] = {}
        groups: dict[str | None, list[str]] = {}
        for a in items:
            parent = a.parent_code if a.parent_code in by_code else None
            groups.setdefault(parent, []).append(a.code)
        for parent, codes in groups.items():
            self.tree[parent] = (tuple(codes), np.array([self.xy[c] for c in codes]))
        ring = np.array([(math.cos(t), math.sin(t)) for t in np.linspace(0, 2 * math.pi, 16, endpoint=False)])
        centres = np.array(list(self.xy.values()))
        self.domain = _hull((centres[:, None, :] + BUFFER_M * ring[None, :, :]).reshape(-1, 2))
        self._locator = PointLocator(self.tree, self.domain)  # the same walk without NumPy per point
        self._cells: dict[str, np.ndarray] = {}
        self._collections: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._address_re, self._address_code = self._address_matcher(cfg)
        self.real_geometry: dict[str, dict] = {}
        self.real = self._load_geojson(cfg) if cfg.areas.geojson_path else {}
        depth = sorted({len(c) for c in self.real}, reverse=True)
        self._real_order = [(c, rings) for n in depth for c, rings in self.real.items() if len(c) == n]

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        return ((lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky)

    def to_lonlat(self, poly: np.ndarray) -> list[list[float]]:
        lon = poly[:, 0] / self.kx + self.lon0
        lat = poly[:, 1] / self.ky + self.lat0
        return [[round(float(a), 6), round(float(b), 6)] for a, b in zip(lon, lat, strict=True)]

    @staticmethod
    def _address_matcher(cfg: Config) -> tuple[re.Pattern | None, dict[str, str]]:
        """Area names (and street names without 街道), plus configured road names; ambiguous names dropped."""
        names: dict[str, set[str]] = {}
        for a in cfg.areas.items:
            names.setdefault(a.name, set()).add(a.code)
            if a.level == "street" and a.name.endswith("街道") and len(a.name) >= 4:
                names.setdefault(a.name[:-2], set()).add(a.code)
        for road in cfg.areas.roads:
            names.setdefault(road.name, set()).add(road.area)
        unique = {n: next(iter(c)) for n, c in names.items() if len(c) == 1}
        if not unique:
            return None, {}
        pattern = "|".join(re.escape(n) for n in sorted(unique, key=len, reverse=True))
        return re.compile(pattern), unique

    def _load_geojson(self, cfg: Config) -> dict[str, list[np.ndarray]]:
        path = cfg.path_of(cfg.areas.geojson_path or "")
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise GeoError(path.name, None, "file not found (areas.geojson_path)") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise GeoError(path.name, getattr(exc, "lineno", None), f"not valid GeoJSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
            raise GeoError(path.name, 1, "expected a GeoJSON FeatureCollection")
        out: dict[str, list[np.ndarray]] = {}
        for i, feat in enumerate(doc.get("features", [])):
            code = str((feat.get("properties") or {}).get("code", ""))
            geom = feat.get("geometry") or {}
            if code not in cfg.area_by_code:
                raise GeoError(path.name, None, f"feature {i}: property code {code!r} is not a configured area")
            if geom.get("type") == "Polygon":
                polys = [geom["coordinates"]]
            elif geom.get("type") == "MultiPolygon":
                polys = geom["coordinates"]
            else:
                raise GeoError(path.name, None, f"feature {i} ({code}): geometry must be Polygon or MultiPolygon")
            rings = [np.array([self.to_xy(lat, lon) for lon, lat, *_ in r], dtype=float) for p in polys for r in p]
            out[code] = rings
            self.real_geometry[code] = {"type": geom["type"], "coordinates": geom["coordinates"]}
        log.info("loaded %d area polygons from %s", len(out), path)
        return out

    # --- locating ---

    def nearest(self, x: float, y: float) -> str | None:
        """Walk down the tree choosing the nearest child centroid; the deepest area reached."""
        return self._locator.nearest(x, y)

    def at_point(self, lat: float, lon: float) -> str | None:
        x, y = self.to_xy(lat, lon)
        for code, rings in self._real_order:
            if _inside_rings(rings, x, y):
                return code
        return self._locator.locate(x, y)

    def at_address(self, address: str) -> str | None:
        if self._address_re is None:
            return None
        best: tuple[int, int, str] | None = None
        for m in self._address_re.finditer(address):
            code = self._address_code[m.group(0)]
            key = (len(code), len(m.group(0)), code)
            if best is None or key[:2] > best[:2]:
                best = key
        return best[2] if best else None

    # --- polygons ---

    def cell(self, code: str) -> np.ndarray:
        """Schematic cell of an area (planar, counter-clockwise), computed once."""
        if code in self._cells:
            return self._cells[code]
        area = self.cfg.area_by_code[code]
        parent = area.parent_code if area.parent_code in self.cfg.area_by_code else None
        poly = self.domain if parent is None else self.cell(parent)
        codes, pts = self.tree[parent]
        me = np.array(self.xy[code])
        for other, p in zip(codes, pts, strict=True):
            if other != code and not np.allclose(p, me):
                normal = p - me
                poly = _clip(poly, normal, float(normal @ ((p + me) / 2)))
        self._cells[code] = poly
        return poly

    def collection(self, level: str, parent_code: str) -> str:
        key = (level, parent_code)
        with self._lock:
            if key not in self._collections:
                self._collections[key] = json.dumps(self._build(level, parent_code), ensure_ascii=False)
            return self._collections[key]

    def _build(self, level: str, parent_code: str) -> dict:
        if level not in LEVEL_LENGTHS:
            raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVEL_LENGTHS)}")
        whole_city = parent_code == self.cfg.site.city.code
        if not whole_city and parent_code not in self.cfg.area_by_code:
            raise ValueError(f"unknown area {parent_code!r}")
        areas = [
            a
            for a in self.cfg.areas.items
            if a.level == level and (whole_city or (len(a.code) > len(parent_code) and a.code.startswith(parent_code)))
        ]
        missing = [a.code for a in areas if a.code not in self.real]
        use_real = len(missing) < len(areas)
        if use_real and missing:
            log.warning("no real polygon for %d %s areas under %s: %s", len(missing), level, parent_code, missing[:5])
        features = []
        for a in areas:
            if use_real and a.code in self.real:
                geometry = self.real_geometry[a.code]
            elif use_real:
                continue
            else:
                ring = self.to_lonlat(self.cell(a.code))
                geometry = {"type": "Polygon", "coordinates": [ring + ring[:1]]}
            props: dict[str, object] = {"code": a.code, "name": a.name, "level": a.level, "parent": a.parent_code or ""}
            props["lat"], props["lon"] = a.centroid
            features.append({"type": "Feature", "id": a.code, "properties": props, "geometry": geometry})
        return {"type": "FeatureCollection", "features": features}


_indexes: dict[int, GeoIndex] = {}
_indexes_lock = threading.Lock()


def index_for(cfg: Config) -> GeoIndex:
    """The GeoIndex of this Config, built on first use and dropped with the Config."""
    idx = _indexes.get(id(cfg))
    if idx is not None and idx.cfg is cfg:
        return idx
    with _indexes_lock:
        idx = _indexes.get(id(cfg))
        if idx is None or idx.cfg is not cfg:
            idx = GeoIndex(cfg)
            _indexes[id(cfg)] = idx
            weakref.finalize(cfg, _indexes.pop, id(cfg), None)
    return idx


def locate(
    cfg: Config,
    registry: Mapping[str, Any] | None = None,
    *,
    grid_code: str | None = None,
    device_id: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    address: str | None = None,
) -> str | None:
    """Area code for an event, in SPEC §3 order; None only for an explicit unknown grid code."""
    if grid_code is not None:
        return grid_code if grid_code in cfg.area_by_code else None
    if device_id is not None and registry is not None:
        device = registry.get(device_id)
        if device is not None:
            return device.area_code
    idx = index_for(cfg)
    if lat is not None and lon is not None:
        try:
            flat, flon = float(lat), float(lon)
        except (TypeError, ValueError):
            flat = flon = math.nan
        if math.isfinite(flat) and math.isfinite(flon):
            code = idx.at_point(flat, flon)
            if code is not None:
                return code
    if address:
        code = idx.at_address(address)
        if code is not None:
            return code
    return cfg.site.default_area


def outside_site(cfg: Config, lat: float, lon: float) -> bool:
    """True for a point outside the site: outside `areas.bounds` when set, else outside every drawn area."""
    bounds = cfg.areas.bounds
    if bounds is not None:
        return not (bounds[0] <= lat <= bounds[2] and bounds[1] <= lon <= bounds[3])
    return index_for(cfg).at_point(lat, lon) is None


def area_polygons(cfg: Config, level: str, parent_code: str) -> dict:
    """GeoJSON FeatureCollection of the `level` areas under `parent_code` (feature id = code).

    Real polygons when `areas.geojson_path` covers them, else schematic cells; built once per
    (level, parent) and returned as a fresh copy, so callers may modify it.
    """
    return json.loads(index_for(cfg).collection(level, parent_code))


def extent(cfg: Config, code: str) -> tuple[float, float, float, float]:
    """(min_lat, min_lon, max_lat, max_lon) of an area's drawn shape, for centring a map on it."""
    idx = index_for(cfg)
    if code in idx.real:
        pts = np.vstack(idx.real[code])
    elif code == cfg.site.city.code:
        pts = idx.domain
    else:
        pts = idx.cell(code)
    lonlat = np.array(idx.to_lonlat(pts))
    return (
        float(lonlat[:, 1].min()),
        float(lonlat[:, 0].min()),
        float(lonlat[:, 1].max()),
        float(lonlat[:, 0].max()),
    )
