"""Locating events in the area tree, and the polygons the map draws, agree with each other."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ops_center.core import geo
from ops_center.core.area_codes import ancestors, level_of
from ops_center.core.config import load_config
from ops_center.core.devices import load_devices

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def registry(cfg):
    return load_devices(cfg.path_of(cfg.devices.path), cfg)


def shoelace(ring: list[list[float]], lat0: float = 30.68) -> float:
    """Planar area in (scaled) square degrees; only ratios are compared."""
    k = math.cos(math.radians(lat0))
    pts = [(lon * k, lat) for lon, lat in ring]
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False))) / 2


def contains(ring: list[list[float]], lat: float, lon: float) -> bool:
    inside = False
    for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False):
        if (y0 > lat) != (y1 > lat) and lon < x0 + (lat - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def test_haversine():
    assert geo.haversine_m(30.0, 104.0, 30.0, 104.0) == 0
    assert geo.haversine_m(30.0, 104.0, 31.0, 104.0) == pytest.approx(111_195, abs=1)
    # 0.01° of longitude at 30.67° N is about 957 m
    assert geo.haversine_m(30.67, 104.10, 30.67, 104.11) == pytest.approx(957, abs=2)


def test_children_come_from_the_configuration(cfg):
    grid = "510108002005001"
    assert [a.code for a in geo.children(cfg, "510108002005")] == [f"510108002005{i:03d}" for i in range(1, 5)]
    assert geo.children(cfg, grid) == ()
    assert [a.code for a in geo.children(cfg, cfg.site.city.code)] == ["510108"]


def test_locate_follows_the_spec_order(cfg, registry):
    dev = registry["SMK-0001"]
    far_grid = "510108017015002"
    assert far_grid != dev.area_code
    # 1. an explicit grid code wins over everything
    assert geo.locate(cfg, registry, grid_code=far_grid, device_id=dev.device_id, address="建设路1号") == far_grid
    # an explicit unknown grid code is not guessed around
    assert geo.locate(cfg, registry, grid_code="510108002005999", device_id=dev.device_id) is None
    # 2. a registered device's grid wins over its reported position
    lat, lon = cfg.area_by_code[far_grid].centroid
    assert geo.locate(cfg, registry, device_id=dev.device_id, lat=lat, lon=lon) == dev.area_code
    # an unknown device falls through to the position
    assert geo.locate(cfg, registry, device_id="SMK-9999", lat=lat, lon=lon) == far_grid
    # 3. the position wins over the address
    assert geo.locate(cfg, registry, lat=lat, lon=lon, address="龙潭寺") == far_grid
    # 4. the address, when there is no usable position
    assert geo.locate(cfg, registry, lat=0.0, lon=0.0, address="成华区龙潭寺正街5号") == "510108016"
    assert geo.locate(cfg, registry, lat=math.nan, lon=104.1, address="望平街8号") == "510108002005"
    # 5. else the default area
    assert geo.locate(cfg, registry, address="北京市朝阳区") == cfg.site.default_area
    assert geo.locate(cfg, None) == cfg.site.default_area


def test_address_prefers_the_most_specific_name(cfg):
    assert geo.locate(cfg, None, address="成都市成华区建设路56号") == "510108002"
    assert geo.locate(cfg, None, address="成华区猛追湾街道望平社区第2网格") == "510108002005002"
    assert geo.locate(cfg, None, address="二仙桥东路3号") == "510108007"
    assert geo.locate(cfg, None, address="保和街道某小区") == "510108014"


def test_every_centroid_locates_into_its_own_area(cfg):
    for area in cfg.areas.items:
        found = geo.locate(cfg, None, lat=area.centroid[0], lon=area.centroid[1])
        assert found.startswith(area.code) and level_of(found) == "grid", area.code
        if area.level == "grid":
            assert found == area.code


def test_points_outside_the_district_are_not_placed_in_it(cfg):
    assert geo.locate(cfg, None, lat=30.5728, lon=104.0668) == cfg.site.default_area  # 天府广场以南
    assert geo.locate(cfg, None, lat=30.5728, lon=104.0668, address="府青路2段") == "510108006"


def test_street_cells_tile_the_district(cfg):
    district = geo.area_polygons(cfg, "district", cfg.site.city.code)
    streets = geo.area_polygons(cfg, "street", "510108")
    assert district["type"] == streets["type"] == "FeatureCollection"
    assert [f["id"] for f in streets["features"]] == [a.code for a in cfg.children_of["510108"]]
    outline = district["features"][0]["geometry"]["coordinates"][0]
    total = sum(shoelace(f["geometry"]["coordinates"][0]) for f in streets["features"])
    assert total == pytest.approx(shoelace(outline), rel=1e-4)
    for f in streets["features"]:
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) >= 4
        area = cfg.area_by_code[f["properties"]["code"]]
        assert f["properties"]["name"] == area.name and f["properties"]["parent"] == "510108"
        assert contains(ring, *area.centroid)
        others = [a for a in cfg.children_of["510108"] if a.code != area.code]
        assert not any(contains(ring, *o.centroid) for o in others)


@pytest.mark.parametrize("parent", ["510108002", "510108016", "510108002005", "510108014013"])
def test_children_tile_their_parent(cfg, parent):
    level = "community" if len(parent) == 9 else "grid"
    parent_level = level_of(parent)
    above = ancestors(parent)[-1]
    parent_ring = next(f for f in geo.area_polygons(cfg, parent_level, above)["features"] if f["id"] == parent)[
        "geometry"
    ]["coordinates"][0]
    cells = geo.area_polygons(cfg, level, parent)["features"]
    assert [f["id"] for f in cells] == [a.code for a in cfg.children_of[parent]]
    total = sum(shoelace(f["geometry"]["coordinates"][0]) for f in cells)
    assert total == pytest.approx(shoelace(parent_ring), rel=1e-4)
    for f in cells:
        assert contains(f["geometry"]["coordinates"][0], *cfg.area_by_code[f["id"]].centroid)


def test_polygons_across_levels_and_copies(cfg):
    grids = geo.area_polygons(cfg, "grid", "510108")
    assert len(grids["features"]) == sum(1 for a in cfg.areas.items if a.level == "grid")
    first = geo.area_polygons(cfg, "street", "510108")
    first["features"].clear()
    assert len(geo.area_polygons(cfg, "street", "510108")["features"]) == 11
    with pytest.raises(ValueError, match="unknown level"):
        geo.area_polygons(cfg, "province", "510108")
    with pytest.raises(ValueError, match="unknown area"):
        geo.area_polygons(cfg, "street", "510199")


def test_extent_covers_the_area(cfg):
    lat0, lon0, lat1, lon1 = geo.extent(cfg, "510108")
    assert 30.60 < lat0 < 30.66 and 30.71 < lat1 < 30.76 and 104.05 < lon0 < 104.09 and 104.16 < lon1 < 104.20
    s = geo.extent(cfg, "510108002")
    assert lat0 <= s[0] < s[2] <= lat1 and lon0 <= s[1] < s[3] <= lon1


def test_real_geojson_is_used_for_maps_and_locating(tmp_path):
    square = [[104.080, 30.650], [104.095, 30.650], [104.095, 30.665], [104.080, 30.665], [104.080, 30.650]]
    hole = [[104.085, 30.655], [104.090, 30.655], [104.090, 30.660], [104.085, 30.660], [104.085, 30.655]]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": "510108004"}, "geometry": {"type": "Polygon", "coordinates": [square, hole]}},
        ],
    }  # fmt: skip
    (tmp_path / "areas.geojson").write_text(json.dumps(doc), encoding="utf-8")
    text = (
        (ROOT / "config.yaml").read_text(encoding="utf-8").replace("geojson_path: null", "geojson_path: areas.geojson")
        .replace("dispatch_catalogue: config/", f"dispatch_catalogue: {ROOT}/config/")
    )
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    cfg = load_config(tmp_path / "config.yaml")
    # 30.652/104.082 is nearer 猛追湾's centroid, but the real polygon says 双桥子
    assert geo.locate(cfg, None, lat=30.652, lon=104.082) == "510108004"
    # inside the hole: back to nearest centroids
    assert geo.locate(cfg, None, lat=30.6575, lon=104.0875).startswith("510108002")
    streets = geo.area_polygons(cfg, "street", "510108")
    assert [f["id"] for f in streets["features"]] == ["510108004"]
    assert streets["features"][0]["geometry"] == {"type": "Polygon", "coordinates": [square, hole]}
    # levels the file does not cover are still drawn schematically
    assert len(geo.area_polygons(cfg, "community", "510108002")["features"]) == 7


def test_bad_geojson_is_a_located_error(tmp_path):
    (tmp_path / "areas.geojson").write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    text = (
        (ROOT / "config.yaml").read_text(encoding="utf-8").replace("geojson_path: null", "geojson_path: areas.geojson")
        .replace("dispatch_catalogue: config/", f"dispatch_catalogue: {ROOT}/config/")
    )
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    cfg = load_config(tmp_path / "config.yaml")
    with pytest.raises(geo.GeoError, match=r"^areas\.geojson:1: not valid GeoJSON"):
        geo.locate(cfg, None, lat=30.66, lon=104.09)
