"""Regenerate the demo device registry (config/devices.csv) from config.yaml, deterministically.

Run `python3 config/make_devices.py` after changing the demo areas; the same seed gives the same file.
"""

from __future__ import annotations

import csv
import logging
import math
import random
import sys
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ops_center.core import geo  # noqa: E402
from ops_center.core.config import Config, load_config  # noqa: E402
from ops_center.core.devices import COLUMNS  # noqa: E402

log = logging.getLogger("make_devices")
SEED = 20261123
PREFIX = {
    "smoke": "SMK", "gas": "GAS", "water_level": "WLV", "manhole": "MHC", "aqi": "AQI", "noise": "NOI",
    "traffic": "TRF", "water_meter": "WMT", "sos": "SOS", "fall": "FAL", "hydrant": "HYD",
    "ebike_lift": "EBL", "street_light": "SLT",
}  # fmt: skip
# Street devices (outside homes) per kind, and lone-elder homes with what each has installed.
OUTDOOR = {"smoke": 68, "gas": 35, "water_level": 24, "manhole": 45, "aqi": 18, "noise": 24, "traffic": 20,
           "hydrant": 36, "ebike_lift": 30, "street_light": 48}  # fmt: skip
ELDER_HOMES = 45  # each: water_meter; first 35 also sos, first 25 fall, first 22 smoke, first 15 gas
SPOTS = {
    "smoke": ["{b}栋{f}楼楼道", "{b}栋配电间", "{b}栋地下车库"],
    "gas": ["{b}栋1楼商铺后厨", "{b}栋燃气表间"],
    "water_level": ["下穿隧道", "立交桥下", "地下通道入口"],
    "manhole": ["前人行道井盖", "路口雨水井", "旁污水井"],
    "aqi": ["旁空气微站"],
    "noise": ["旁噪声监测点"],
    "traffic": ["路口卡口"],
    "hydrant": ["旁市政消火栓"],
    "ebike_lift": ["{b}栋电梯"],
    "street_light": ["旁路灯"],
}


def _roads(cfg: Config) -> dict[str, list[str]]:
    """Road names usable for each grid: its community's own roads, else its street's."""
    by_area: dict[str, list[str]] = {}
    for road in cfg.areas.roads:
        by_area.setdefault(road.area, []).append(road.name)
    out = {}
    for a in cfg.areas.items:
        if a.level == "grid":
            street, community = a.code[:9], a.code[:12]
            street_roads = [r for code, names in by_area.items() if code.startswith(street) for r in names]
            out[a.code] = by_area.get(community) or street_roads or [a.name]
    return out


def _place(cfg: Config, rng: random.Random, grid: str) -> tuple[float, float]:
    """A point near the grid centroid that still locates to the grid."""
    lat0, lon0 = cfg.area_by_code[grid].centroid
    radius = 70.0
    while True:
        r, t = radius * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        lat = round(lat0 + r * math.sin(t) / 110_574, 6)
        lon = round(lon0 + r * math.cos(t) / (111_320 * math.cos(math.radians(lat0))), 6)
        if geo.locate(cfg, None, lat=lat, lon=lon) == grid:
            return lat, lon
        radius *= 0.7


def build(cfg: Config, seed: int = SEED) -> list[dict[str, str]]:
    rng = random.Random(seed)
    grids = [a.code for a in cfg.areas.items if a.level == "grid"]
    roads = _roads(cfg)
    rows: list[dict[str, str]] = []
    counters = dict.fromkeys(PREFIX, 0)

    def add(kind: str, grid: str, lat: float, lon: float, address: str, building: str, elder: bool) -> None:
        counters[kind] += 1
        installed = date(2023, 3, 1) + timedelta(days=rng.randrange(0, 900))
        rows.append({
            "device_id": f"{PREFIX[kind]}-{counters[kind]:04d}", "kind": kind, "grid_code": grid,
            "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "address": address, "building": building,
            "lone_elder": "true" if elder else "false", "installed": installed.isoformat(),
        })  # fmt: skip

    for i in range(ELDER_HOMES):
        grid = rng.choice(grids)
        road, no, bld = rng.choice(roads[grid]), rng.randrange(1, 400), rng.randrange(1, 12)
        unit, room = rng.randrange(1, 4), rng.randrange(1, 8) * 100 + rng.randrange(1, 5)
        building = f"{road}{no}号院{bld}栋"
        address = f"{road}{no}号{bld}栋{unit}单元{room}室"
        lat, lon = _place(cfg, rng, grid)
        kinds = ["water_meter"] + ["sos"] * (i < 35) + ["fall"] * (i < 25) + ["smoke"] * (i < 22) + ["gas"] * (i < 15)
        for kind in kinds:
            add(kind, grid, lat, lon, address, building, True)
    cycle = rng.sample(grids, len(grids))  # street devices go round every grid before any gets a second
    for kind, count in OUTDOOR.items():
        for _ in range(count):
            grid = cycle[len(rows) % len(cycle)]
            road, no, bld = rng.choice(roads[grid]), rng.randrange(1, 400), rng.randrange(1, 12)
            spot = rng.choice(SPOTS[kind]).format(b=bld, f=rng.randrange(1, 30))
            indoor = "{b}" in SPOTS[kind][0]
            building = f"{road}{no}号院{bld}栋" if indoor else ""
            lat, lon = _place(cfg, rng, grid)
            add(kind, grid, lat, lon, f"{road}{no}号{spot}", building, False)
    order = list(PREFIX)
    rows.sort(key=lambda r: (order.index(r["kind"]), r["device_id"]))
    return rows


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(ROOT / "config.yaml")
    rows = build(cfg)
    out = ROOT / "config" / "devices.csv"
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*COLUMNS, "installed"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    log.info("wrote %d devices to %s", len(rows), out)


if __name__ == "__main__":
    main()
