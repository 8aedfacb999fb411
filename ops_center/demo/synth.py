"""Deterministic synthetic incident history, so screens, demos and benches have years of realistic data.

Everything is drawn with numpy from one seed and written in bulk (Arrow tables of ≥ 1,000 rows,
one transaction per chunk), so 10 M incidents take minutes, not hours. The same arguments always
give the same rows: the chunk plan depends only on (days, incidents_per_day), and every chunk
draws from its own `default_rng([seed, chunk])`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ops_center.core.area_codes import district_of, prefix, street_of
from ops_center.core.config import Config, load_config
from ops_center.core.devices import load_devices
from ops_center.core.domains import LEVELS, SEVERITIES, STATUSES, UNCLASSIFIED
from ops_center.core.lifecycle import ACTIONS, TRANSITIONS, target
from ops_center.core.sla import SlaPolicy
from ops_center.demo import synth_units
from ops_center.service.pipeline import key_hash  # the pipeline's own hash: synthetic events dedup like live ones
from ops_center.store.store import COORDINATE_DECIMALS, Store

log = logging.getLogger(__name__)

_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SOURCES = ("sensor", "grid", "hotline")
SOURCE_IDS = {"sensor": "mqtt_sensors", "grid": "mqtt_grid", "hotline": "hotline_drop"}


@dataclass(frozen=True)
class Category:
    """One kind of incident: how common, who reports it, how severe, and what a report says."""

    domain: str
    code: str
    name: str
    weight: float  # share within its domain
    sources: tuple[float, float, float]  # sensor, grid, hotline
    severity: tuple[float, float, float, float]  # P1..P4
    kind: str | None = None  # sensor kind
    metric: str | None = None
    value: tuple[float, float] | None = None  # sensor value range when it alarms
    event: str | None = None  # sensor-side event name
    texts: tuple[str, ...] = ()  # grid/hotline report templates; {place} is replaced


# Shares within each domain; the domain shares are DOMAIN_WEIGHTS below.
CATEGORIES: tuple[Category, ...] = (
    Category("public_security", "dispute", "矛盾纠纷", .30, (0, .4, .6), (.02, .15, .58, .25), texts=(
        "{place}邻里因噪音发生纠纷，双方争执不下，请求调解", "{place}商户与顾客发生口角，需社区介入调解",
        "市民反映{place}物业与业主矛盾激化，请求处理")),
    Category("public_security", "theft", "盗窃", .14, (0, .2, .8), (.05, .35, .5, .10), texts=(
        "{place}电瓶车被盗，请求民警处理", "市民来电：{place}家中财物被盗")),
    Category("public_security", "fight", "打架斗殴", .10, (0, .3, .7), (.25, .45, .25, .05), texts=(
        "{place}有人打架斗殴，现场有人受伤", "{place}烧烤摊发生斗殴，请速处置")),
    Category("public_security", "suspicious_person", "可疑人员", .14, (0, .6, .4), (.03, .20, .57, .20), texts=(
        "{place}有可疑人员反复徘徊，请核查", "{place}小区有陌生人挨户推销，形迹可疑")),
    Category("public_security", "short_term_rental", "网约房未登记", .17, (0, .9, .1), (0, .05, .45, .50), texts=(
        "{place}发现网约房未按规定登记住客信息", "网格巡查：{place}民宿未落实实名登记")),
    Category("public_security", "fraud_pyramid", "诈骗传销", .15, (0, .3, .7), (.02, .25, .58, .15), texts=(
        "{place}有人以高息理财为名诱骗老人投资", "{place}疑似传销窝点，人员聚集")),
    Category("fire_safety", "smoke_alarm", "烟感报警", .32, (1, 0, 0), (.35, .50, .15, 0), kind="smoke",
             event="alarm"),
    Category("fire_safety", "gas_leak", "燃气泄漏", .12, (.8, 0, .2), (.55, .40, .05, 0), kind="gas",
             metric="lel_pct", value=(25, 40), texts=("{place}闻到浓烈燃气味，疑似泄漏", "市民来电：{place}楼道有煤气味")),
    Category("fire_safety", "ebike_in_lift", "电动车进电梯", .24, (1, 0, 0), (0, .30, .60, .10), kind="ebike_lift",
             event="alarm"),
    Category("fire_safety", "fire_exit_blocked", "消防通道堵塞", .18, (0, .6, .4), (0, .25, .60, .15), texts=(
        "{place}消防通道被车辆堵塞", "{place}楼道堆放杂物，堵塞安全出口")),
    Category("fire_safety", "hydrant_low_pressure", "消火栓水压低", .14, (1, 0, 0), (0, .20, .60, .20),
             kind="hydrant", metric="pressure_mpa", value=(0.0, 0.13)),
    Category("environment", "air_quality", "空气质量超标", .24, (1, 0, 0), (.02, .18, .55, .25), kind="aqi",
             metric="pm25", value=(115, 260)),
    Category("environment", "noise", "噪声超标", .24, (.5, 0, .5), (0, .10, .60, .30), kind="noise",
             metric="db", value=(72, 95), texts=("{place}工地夜间施工噪声很大", "{place}商铺外放音乐噪声扰民")),
    Category("environment", "illegal_dumping", "违规倾倒", .20, (0, .6, .4), (0, .15, .60, .25), texts=(
        "{place}有人偷倒建筑垃圾", "{place}河边被倾倒大量生活垃圾")),
    Category("environment", "water_pollution", "水体污染", .10, (0, .5, .5), (.05, .30, .50, .15), texts=(
        "{place}河道水体发黑发臭", "{place}排水口有污水直排")),
    Category("environment", "cooking_fumes", "油烟扰民", .22, (0, .4, .6), (0, .15, .60, .25), texts=(
        "{place}餐馆油烟直排", "{place}有人露天焚烧垃圾，浓烟很大")),
    Category("city_management", "street_vending", "占道经营", .24, (0, .8, .2), (0, .05, .60, .35), texts=(
        "{place}有流动摊贩占道经营，影响通行", "{place}门店越门经营，占用人行道")),
    Category("city_management", "garbage_overflow", "垃圾满溢", .19, (0, .7, .3), (0, .10, .60, .30), texts=(
        "{place}垃圾桶满溢未及时清运", "{place}垃圾收集点堆积，气味难闻")),
    Category("city_management", "illegal_construction", "违法建设", .09, (0, .5, .5), (0, .15, .55, .30), texts=(
        "{place}楼顶正在搭建违章建筑", "{place}底商私自扩建")),
    Category("city_management", "manhole_displaced", "井盖移位", .08, (.6, .2, .2), (.10, .70, .20, 0),
             kind="manhole", metric="tilt_deg", value=(10, 35), texts=("{place}井盖缺失，存在安全隐患", "{place}路面井盖松动移位")),
    Category("city_management", "street_light_out", "路灯故障", .15, (.5, .3, .2), (0, .05, .55, .40),
             kind="street_light", event="lamp_out", texts=("{place}路灯不亮", "{place}一排路灯夜间熄灭")),
    Category("city_management", "waterlogging", "积水内涝", .07, (.7, .15, .15), (.15, .45, .35, .05),
             kind="water_level", metric="level_cm", value=(15, 60), texts=("{place}路段积水严重，车辆无法通行",
                                                                          "{place}下穿隧道积水")),
    Category("city_management", "public_facilities", "公共设施损坏", .18, (0, .6, .4), (0, .10, .60, .30), texts=(
        "{place}路面塌陷出现坑洞", "{place}人行道地砖破损翘起")),
    Category("traffic", "accident", "交通事故", .20, (0, .2, .8), (.20, .45, .30, .05), texts=(
        "{place}发生两车追尾事故", "{place}电瓶车与行人相撞，有人受伤")),
    Category("traffic", "congestion", "交通拥堵", .30, (.8, 0, .2), (0, .30, .55, .15), kind="traffic",
             metric="speed_kmh", value=(2, 9), texts=("{place}严重拥堵，车辆排队很长",)),
    Category("traffic", "illegal_parking", "违章停车", .35, (0, .5, .5), (0, .05, .55, .40), texts=(
        "{place}车辆乱停乱放，堵塞路口", "{place}有车辆长期占用消防通道停放")),
    Category("traffic", "signal_fault", "信号灯故障", .15, (.4, .3, .3), (.10, .50, .35, .05), kind="traffic",
             event="signal_fault", texts=("{place}红绿灯不亮", "{place}信号灯一直闪黄灯")),
    Category("elderly_care", "sos", "一键呼救", .30, (1, 0, 0), (.70, .25, .05, 0), kind="sos", event="sos"),
    Category("elderly_care", "fall", "跌倒报警", .20, (1, 0, 0), (.60, .35, .05, 0), kind="fall", event="fall"),
    Category("elderly_care", "no_water_use", "独居老人用水异常", .30, (1, 0, 0), (.10, .55, .35, 0),
             kind="water_meter", metric="hours_since_use", value=(24, 40)),
    Category("elderly_care", "missed_checkin", "未按时签到", .20, (0, .7, .3), (.05, .40, .50, .05), texts=(
        "{place}独居老人今日未签到，电话无人接听", "{place}空巢老人多日未露面，请上门查看")),
    Category(UNCLASSIFIED, "unclassified", "待分类", 1.0, (0, .4, .6), (0, .10, .60, .30), texts=(
        "{place}有情况需要反映，请相关部门联系我", "{place}问题反映多次未解决", "咨询{place}相关政策")),
)

DOMAIN_WEIGHTS = {
    "city_management": .36, "public_security": .19, "environment": .14, "traffic": .13,
    "fire_safety": .09, "elderly_care": .07, UNCLASSIFIED: .02,
}
# Reports per local hour: quiet at night, peaks mid-morning and afternoon, an evening shoulder.
HOUR_WEIGHTS = np.array([.9, .6, .45, .4, .4, .5, .9, 1.6, 2.6, 3.2, 3.3, 3.0,
                         2.4, 2.6, 3.0, 3.1, 3.0, 2.7, 2.4, 2.3, 2.2, 1.9, 1.5, 1.2])
WEEKDAY_FACTOR = np.array([1.05, 1.0, 1.0, 1.0, 1.02, .86, .80])
STORM_CATEGORIES = ("waterlogging", "manhole_displaced", "congestion", "accident", "public_facilities")


def category_weights() -> np.ndarray:
    """Overall probability of each category (domain share × share within the domain)."""
    w = np.array([DOMAIN_WEIGHTS[c.domain] * c.weight for c in CATEGORIES])
    for domain in DOMAIN_WEIGHTS:
        idx = [i for i, c in enumerate(CATEGORIES) if c.domain == domain]
        inner = sum(CATEGORIES[i].weight for i in idx)
        w[idx] /= inner
    return w / w.sum()


def _us(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: pass an aware `end`")
    return (dt - _EPOCH) // timedelta(microseconds=1)


def _ts(us: np.ndarray) -> pa.Array:
    """int64 µs (or -1 for missing) -> Arrow naive-UTC timestamp in whole seconds, as the store keeps them."""
    us = np.asarray(us, dtype=np.int64)
    return pa.array(us // 1_000_000, type=pa.timestamp("s"), mask=us < 0)


def _dict(indices: np.ndarray, values: Sequence[str | None]) -> pa.Array:
    """A string column from small-int codes: Arrow dictionary, decoded once by DuckDB."""
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(indices, dtype=np.int32)),
                                          pa.array(list(values), type=pa.string())).cast(pa.string())


class _World:
    """The static frame the history lives in: grids, devices, SLA table, officers, texts."""

    def __init__(self, cfg: Config, seed: int):
        self.cfg = cfg
        self.policy = SlaPolicy(cfg)
        rng = np.random.default_rng([seed, 7919])
        grids = [a for a in cfg.areas.items if a.level == "grid"]
        if not grids:
            grids = [a for a in cfg.areas.items if a.level == "community"] or list(cfg.areas.items)
        self.grids = grids
        self.grid_codes = [g.code for g in grids]
        self.grid_lat = np.array([g.centroid[0] for g in grids])
        self.grid_lon = np.array([g.centroid[1] for g in grids])
        w = rng.lognormal(0, 0.6, len(grids))  # some grids are busier (markets, stations)
        self.grid_p = w / w.sum()
        communities = {a.code: a.name for a in cfg.areas.items if a.level == "community"}
        streets = {a.code: a.name for a in cfg.areas.items if a.level == "street"}
        roads: dict[str, list[str]] = {}
        for road in cfg.areas.roads:
            roads.setdefault(street_of(road.area) or road.area, []).append(road.name)
        # per grid: a place name (community) and a few addresses on its street's roads
        self.places = [communities.get(prefix(g.code, "community") or "", g.name) for g in grids]
        self.street_names = [streets.get(street_of(g.code) or "", "") for g in grids]
        self.n_addr = 8
        addresses = []
        for i, g in enumerate(grids):
            street_roads = roads.get(street_of(g.code) or "") or [self.places[i]]
            for k in range(self.n_addr):
                addresses.append(f"{street_roads[(i + k) % len(street_roads)]}{int(rng.integers(1, 400))}号")
        self.addresses = addresses
        # devices by kind (the registry if it loads, else one synthetic device per grid and kind)
        self.devices: dict[str, tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        registry = None
        try:
            registry = load_devices(cfg.path_of(cfg.devices.path), cfg)
        except Exception:  # noqa: BLE001 - a missing registry only makes devices synthetic
            log.info("device registry not loadable; synthetic device ids are used")
        grid_index = {c: i for i, c in enumerate(self.grid_codes)}
        for cat in CATEGORIES:
            if cat.kind is None or cat.kind in self.devices:
                continue
            devs = [d for d in (registry.by_kind.get(cat.kind, ()) if registry else ()) if d.area_code in grid_index]
            if devs:
                ids = [d.device_id for d in devs]
                gi = np.array([grid_index[d.area_code] for d in devs])
                lat = np.array([d.lat for d in devs])
                lon = np.array([d.lon for d in devs])
            else:
                ids = [f"{cat.kind.upper()}-{c}" for c in self.grid_codes]
                gi = np.arange(len(grids))
                lat, lon = self.grid_lat, self.grid_lon
            dw = rng.lognormal(0, 0.8, len(ids))  # some devices are flaky
            self.devices[cat.kind] = (ids, gi, lat, lon, dw / dw.sum())
        # SLA rows per (category, severity): ack/resolve working durations and calendar kind
        n_cat = len(CATEGORIES)
        self.ack_work = np.zeros((n_cat, 4), dtype=np.int64)
        self.res_work = np.zeros((n_cat, 4), dtype=np.int64)
        self.workdays = np.zeros((n_cat, 4), dtype=bool)
        self.warn = np.zeros((n_cat, 4))
        cal = self.policy.calendar
        for ci, cat in enumerate(CATEGORIES):
            for si, sev in enumerate(SEVERITIES):
                rule = self.policy.rule_for(cat.domain, sev, cat.code)
                self.ack_work[ci, si] = cal.work_duration(rule.acknowledge, rule.calendar) // timedelta(microseconds=1)
                self.res_work[ci, si] = cal.work_duration(rule.resolve, rule.calendar) // timedelta(microseconds=1)
                self.workdays[ci, si] = rule.calendar != "24x7"
                self.warn[ci, si] = self.policy.warn_at(rule)
        domains = {d.code: d for d in cfg.domains}
        self.domain_names = list(dict.fromkeys(c.domain for c in CATEGORIES))
        self.cat_domain = np.array([self.domain_names.index(c.domain) for c in CATEGORIES])
        self.cat_level = np.array([LEVELS.index(domains[c.domain].level) if c.domain in domains else 1
                                   for c in CATEGORIES])
        self.domain_dept = [domains[d].department if d in domains else None for d in self.domain_names]
        officers = [u.username for u in cfg.users if u.role == "officer"] or ["officer"]
        self.officers = officers
        self.cast = synth_units.UnitCast(cfg, self.domain_names, self.domain_dept, self.grid_codes,
                                         [d in domains and domains[d].level == "community" for d in self.domain_names])
        # titles: one per (category, grid), as the rules' title templates would write them
        self.titles = [f"{c.name}：{p}" for c in CATEGORIES for p in self.places]
        # report texts: (category, template, grid) -> text
        self.max_texts = max(len(c.texts) for c in CATEGORIES)
        texts = []
        for c in CATEGORIES:
            tpl = c.texts or (f"{c.name}",)
            for t in range(self.max_texts):
                for p in self.places:
                    texts.append(tpl[t % len(tpl)].format(place=p))
        self.texts = texts + [""]  # the last entry: sensors send no text
        # configured source ids per kind of source (a sensor reading arrives on the sensor topic, …)
        kinds = {"sensor": ("mqtt_sensor",), "grid": ("mqtt_grid",), "hotline": ("drop_folder", "open311")}
        self.source_ids = [next((s.id for s in cfg.sources if s.kind in kinds[src]), SOURCE_IDS[src])
                           for src in SOURCES]
        dept_names = {d.code: d.name for d in cfg.departments}
        level_names = {"community": "社区", "street": "街道", "district": "区", "city": "市"}
        # timeline notes: titles first (index = category × grids + grid), then the fixed phrases
        self.notes = list(self.titles)
        self.note_dispatch = len(self.notes)
        self.notes += [f"派遣至{dept_names.get(d or '', d or '责任部门')}" for d in self.domain_dept]
        self.note_ack_escalate = len(self.notes)
        self.notes += [f"超时未受理，升级至{level_names[lv]}级" for lv in LEVELS]
        self.note_res_escalate = len(self.notes)
        self.notes += [f"超期未办结，督办并升级至{level_names[lv]}级" for lv in LEVELS]
        self.note_fixed = len(self.notes)
        self.notes += ["已受理", "处置完成，申请核查", "核查不通过，退回重办", "核查通过，结案", "现场核实无异常，误报",
                       "重复上报，合并至原事件"]
        self.reporters = [f'{{"reporter": "网格员{i:02d}"}}' for i in range(40)]
        self.batteries = [f'{{"battery": {60 + i}}}' for i in range(40)]

    def deadlines(self, cat: np.ndarray, sev: np.ndarray, start_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ack_due and resolve_due (µs) exactly as SlaPolicy computes them, vectorised over rows."""
        cal = self.policy.calendar
        ack = start_us + self.ack_work[cat, sev]
        res = start_us + self.res_work[cat, sev]
        wd = self.workdays[cat, sev]
        if wd.any():
            s = start_us[wd]
            w0 = cal.work_at(s)
            ack[wd] = cal.time_at(w0 + self.ack_work[cat[wd], sev[wd]], s)
            res[wd] = cal.time_at(w0 + self.res_work[cat[wd], sev[wd]], s)
        return ack, res


def _plan(days: int, per_day: int, end_us: int, seed: int, tz_offset_h: float,
          chunk_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Counts per hour slot (exact total days × per_day) and chunk boundaries over the slots."""
    total = days * per_day
    start_us = end_us - days * 86_400 * _US
    slot0 = start_us // (3600 * _US)
    n_slots = int(-(-(end_us - slot0 * 3600 * _US) // (3600 * _US)))
    slot_us = (slot0 + np.arange(n_slots)) * 3600 * _US
    local = slot_us + int(tz_offset_h * 3600 * _US)
    hour = (local // (3600 * _US)) % 24
    day = local // (86_400 * _US)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
    rng = np.random.default_rng([seed, 1])
    uday, day_idx = np.unique(day, return_inverse=True)
    day_factor = rng.lognormal(0, 0.12, len(uday))
    storm = rng.random(len(uday)) < 0.03  # a few rainstorm days: 2-4x the reports
    day_factor[storm] *= rng.uniform(2, 4, storm.sum())
    growth = np.linspace(0.85, 1.15, n_slots)  # the platform grows over the years
    w = HOUR_WEIGHTS[hour] * WEEKDAY_FACTOR[weekday] * day_factor[day_idx] * growth
    # the first/last slot may be partial
    span_lo = np.maximum(slot_us, start_us)
    span_hi = np.minimum(slot_us + 3600 * _US, end_us)
    w *= (span_hi - span_lo) / (3600 * _US)
    counts = rng.multinomial(total, w / w.sum())
    storm_slot = storm[day_idx]
    bounds = []
    lo, acc = 0, 0
    for i, c in enumerate(counts):
        acc += int(c)
        if acc >= chunk_rows or i == n_slots - 1:
            bounds.append((lo, i + 1))
            lo, acc = i + 1, 0
    return counts, np.stack([span_lo, span_hi]), storm_slot, bounds


def generate_history(store, cfg: Config, *, days: int, incidents_per_day: int, seed: int, end: datetime,
                     chunk_rows: int = 1_000_000, timeline: bool = True, events: bool = True) -> int:
    """Write `days × incidents_per_day` past incidents (with events and timelines) ending at `end`; return the count."""
    if days <= 0 or incidents_per_day <= 0:
        return 0
    world = _World(cfg, seed)
    end_us = _us(end)
    offset = world.policy.tz.utcoffset(end.replace(tzinfo=None))
    offset_h = offset.total_seconds() / 3600 if offset is not None else 0.0  # a ZoneInfo always has one
    counts, spans, storm_slot, bounds = _plan(days, incidents_per_day, end_us, seed, offset_h, chunk_rows)
    written = 0
    for chunk_no, (lo, hi) in enumerate(bounds):
        n = int(counts[lo:hi].sum())
        if n == 0:
            continue
        rng = np.random.default_rng([seed, 1000 + chunk_no])
        slot = np.repeat(np.arange(lo, hi), counts[lo:hi])
        created = spans[0, slot] + (rng.random(n) * (spans[1, slot] - spans[0, slot])).astype(np.int64)
        created.sort()
        arrays = _chunk(world, rng, created, storm_slot[slot], end_us)
        _write(store, world, arrays, timeline=timeline, events=events)
        written += n
        log.info("synth: chunk %d/%d, %d incidents (total %d)", chunk_no + 1, len(bounds), n, written)
    return written


def _chunk(world: _World, rng: np.random.Generator, created: np.ndarray, storm: np.ndarray, end_us: int) -> dict:
    """All columns of one chunk, as numpy arrays (ids are relative; _write offsets them)."""
    n = len(created)
    cat = rng.choice(len(CATEGORIES), n, p=category_weights())
    storm_pick = storm & (rng.random(n) < 0.45)
    if storm_pick.any():
        storm_codes = [i for i, c in enumerate(CATEGORIES) if c.code in STORM_CATEGORIES]
        cat[storm_pick] = rng.choice(storm_codes, int(storm_pick.sum()))
    src_p = np.array([c.sources for c in CATEGORIES], dtype=float)
    src_p /= src_p.sum(axis=1, keepdims=True)
    src = (rng.random(n)[:, None] > np.cumsum(src_p, axis=1)[cat]).sum(axis=1).clip(0, 2)
    sev_p = np.array([c.severity for c in CATEGORIES], dtype=float)
    sev_p /= sev_p.sum(axis=1, keepdims=True)
    sev = (rng.random(n)[:, None] > np.cumsum(sev_p, axis=1)[cat]).sum(axis=1).clip(0, 3)

    # where: sensors sit at their device; people report from a grid, a little off its centroid
    grid = rng.choice(len(world.grids), n, p=world.grid_p)
    lat = world.grid_lat[grid] + rng.normal(0, 0.0012, n)
    lon = world.grid_lon[grid] + rng.normal(0, 0.0014, n)
    device = np.full(n, -1)
    dev_names: list[str] = []
    sensor = src == 0
    for kind, (ids, gi, dlat, dlon, dp) in world.devices.items():
        rows = np.flatnonzero(sensor & np.isin(cat, [i for i, c in enumerate(CATEGORIES) if c.kind == kind]))
        if not len(rows):
            continue
        pick = rng.choice(len(ids), len(rows), p=dp)
        grid[rows], lat[rows], lon[rows] = gi[pick], dlat[pick], dlon[pick]
        device[rows] = len(dev_names) + pick
        dev_names.extend(ids)
    sensor &= device >= 0
    src[(src == 0) & ~sensor] = 2  # a category without devices is phoned in instead

    # SLA clocks and lifecycle, all as µs offsets
    ack_due, res_due = world.deadlines(cat, sev, created)
    ack_win = np.maximum(ack_due - created, 60 * _US)
    res_win = np.maximum(res_due - created, 600 * _US)
    ack_at = created + (ack_win * rng.lognormal(np.log(0.35), 0.9, n)).astype(np.int64) + 15 * _US
    dispatch_at = ack_at + (rng.exponential(1500, n) * _US).astype(np.int64) + 30 * _US
    resolved1 = created + (res_win * rng.lognormal(np.log(0.42), 0.75, n)).astype(np.int64)
    resolved1 = np.maximum(resolved1, dispatch_at + 300 * _US)
    verify_fail = rng.random(n) < 0.03
    fail_at = resolved1 + (rng.exponential(4 * 3600, n) * _US).astype(np.int64)
    resolved = np.where(verify_fail, fail_at + (rng.exponential(12 * 3600, n) * _US).astype(np.int64) + 1800 * _US,
                        resolved1)
    closed_at = resolved + (rng.exponential(5 * 3600, n) * _US).astype(np.int64) + 600 * _US
    stuck = rng.random(n) < 0.0004  # a few never get done: the long-overdue backlog
    resolved = np.where(stuck, np.iinfo(np.int64).max // 2, resolved)
    resolved1 = np.where(stuck, resolved, resolved1)
    closed_at = np.where(stuck, resolved, closed_at)
    fa_p = np.array([0.09, 0.02, 0.035])[src]
    false_alarm = (rng.random(n) < fa_p) & ~stuck
    fa_at = ack_at + (rng.exponential(1200, n) * _US).astype(np.int64) + 60 * _US
    merged = (src > 0) & (rng.random(n) < 0.015) & ~false_alarm & ~stuck
    merge_back = rng.integers(1, 60, n)
    merged &= np.arange(n) >= merge_back
    merged_at = created + (rng.exponential(900, n) * _US).astype(np.int64) + 60 * _US

    def seen(t: np.ndarray) -> np.ndarray:
        return t <= end_us

    is_merged = merged & seen(merged_at)
    is_fa = false_alarm & seen(fa_at) & ~is_merged
    live = ~is_merged & ~is_fa
    has_ack = seen(ack_at) & ~(merged & (merged_at < ack_at))
    has_dispatch = live & seen(dispatch_at)
    has_res1 = live & seen(resolved1)
    has_fail = has_res1 & verify_fail & seen(fail_at)
    has_res = has_res1 & (~verify_fail | seen(resolved))
    has_closed = has_res & seen(closed_at)
    # the lifecycle steps each incident took, in the order they happen; the walk yields its status. A case sent
    # to a responsible unit is resolved by the unit's feedback (synth_units), any other by an officer.
    by_unit = has_dispatch & (world.cast.domain_lead[world.cat_domain[cat]] >= 0)
    status, walk = _walk(created, (
        ("acknowledge", has_ack, ack_at), ("dispatch", has_dispatch, dispatch_at),
        ("feedback", has_res1 & by_unit, resolved1), ("resolve", has_res1 & ~by_unit, resolved1),
        ("verify_fail", has_fail, fail_at), ("feedback", has_fail & has_res & by_unit, resolved),
        ("resolve", has_fail & has_res & ~by_unit, resolved), ("close", has_closed, closed_at),
        ("false_alarm", is_fa, fa_at), ("merge", is_merged, merged_at)))

    first_res = np.where(has_res1, resolved1, -1)
    # the acknowledge clock stops at the acknowledgement, or when a merge took the incident out of the queue
    ack_overdue = np.where(has_ack, ack_at, np.where(is_merged, merged_at, end_us)) > ack_due
    overdue = np.where(has_res1, resolved1 > res_due, (end_us > res_due) & live)
    overdue &= ~is_fa & ~is_merged
    escalations = ack_overdue.astype(np.int64) + overdue
    level = np.minimum(world.cat_level[cat] + escalations, len(LEVELS) - 1)
    warn = world.warn[cat, sev]
    ack_warned = np.where(has_ack, ack_at - created, end_us - created) > warn * (ack_due - created)
    res_warned = np.where(has_res1, first_res - created, end_us - created) > warn * (res_due - created)
    hotline = src == 2
    satisfied = np.where(hotline & has_closed, np.where(rng.random(n) < np.where(overdue, 0.72, 0.92), 1, 0), -1)

    # reports: the first one created the incident; repeats (sensors repeat more) and a correlated
    # report from another kind of source for a few
    extra = rng.geometric(np.array([0.72, 0.88, 0.85])[src]) - 1
    extra = np.minimum(extra, 6)
    corr = (rng.random(n) < 0.04) & live
    corr_src = (src + rng.integers(1, 3, n)) % 3
    corr_src[corr_src == 0] = 2  # a correlated report comes from a person unless we have a device
    stop = np.where(has_res1, np.minimum(first_res, end_us), end_us)
    stop = np.where(is_fa, np.minimum(fa_at, end_us), stop)
    stop = np.where(is_merged, np.minimum(merged_at, end_us), stop)

    n_rep = 1 + extra + corr
    inc_of = np.repeat(np.arange(n), n_rep)
    k = np.arange(len(inc_of)) - np.repeat(np.cumsum(n_rep) - n_rep, n_rep)  # 0 = first report
    occ = created[inc_of] - (rng.exponential(1.5, len(inc_of)) * _US).astype(np.int64) - 200_000
    later = k > 0
    occ[later] = created[inc_of[later]] + (rng.exponential(1800, later.sum()) * _US).astype(np.int64) * k[later]
    ev_src = src[inc_of].copy()
    is_corr = later & (k == n_rep[inc_of] - 1) & corr[inc_of]
    ev_src[is_corr] = corr_src[inc_of[is_corr]]
    keep = ~later | (occ < stop[inc_of])
    inc_of, k, occ, ev_src, is_corr = inc_of[keep], k[keep], occ[keep], ev_src[keep], is_corr[keep]
    received = occ + (rng.exponential(0.6, len(occ)) * _US).astype(np.int64) + 50_000
    report_count = np.bincount(inc_of, minlength=n)
    last_report = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_report, inc_of, received)
    last_report = np.maximum(last_report, created)
    has_corr = np.zeros(n, dtype=bool)
    has_corr[inc_of[is_corr]] = True
    combo = np.where(has_corr, 3 + src * 3 + corr_src[np.arange(n)], src)  # see SOURCE_COMBOS

    times = {"ack": np.where(has_ack, ack_at, -1), "dispatch": np.where(has_dispatch, dispatch_at, -1),
             "res": np.where(has_res, resolved, -1), "closed": np.where(has_closed, closed_at, -1)}
    updated = np.maximum.reduce([created, times["ack"], times["dispatch"], first_res, times["res"],
                                 times["closed"], np.where(is_fa, fa_at, -1), np.where(is_merged, merged_at, -1),
                                 last_report])
    officer = rng.integers(0, len(world.officers), n)
    unit_rng = np.random.default_rng(rng.integers(0, 2**62))  # drawn last: the draws above do not move
    units = synth_units.plan(world.cast, unit_rng, domain=world.cat_domain[cat], grid=grid, dispatch_at=dispatch_at,
                             resolved1=resolved1, resolved=resolved, has_dispatch=has_dispatch, has_res1=has_res1,
                             has_res=has_res, end_us=end_us, res_due=res_due, overdue=overdue,
                             closed_at=times["closed"])
    return {
        "units": units, "unit_rng": unit_rng, "end_us": end_us,
        "n": n, "cat": cat, "sev": sev, "src": src, "grid": grid, "lat": lat, "lon": lon, "device": device,
        "dev_names": dev_names, "created": created, "ack_due": ack_due, "res_due": res_due, "status": status,
        "walk": walk, "steps_taken": sum(mask.astype(np.int32) for _, mask, *_ in walk),
        "times": times, "first_res": first_res, "fail_at": np.where(has_fail, fail_at, -1),
        "fa_at": np.where(is_fa, fa_at, -1), "merged_at": np.where(is_merged, merged_at, -1),
        "merge_back": merge_back, "is_merged": is_merged, "ack_overdue": ack_overdue, "overdue": overdue,
        "escalations": escalations, "level": level, "base_level": world.cat_level[cat], "ack_warned": ack_warned,
        "res_warned": res_warned, "verify_failures": has_fail.astype(np.int32), "satisfied": satisfied,
        "report_count": report_count, "last_report": last_report, "combo": combo, "updated": updated,
        "officer": officer, "ev_inc": inc_of, "ev_k": k, "ev_occ": occ, "ev_received": received, "ev_src": ev_src,
        "ev_tpl": rng.integers(0, world.max_texts, len(inc_of)), "ev_addr": rng.integers(0, world.n_addr, len(inc_of)),
        "ev_u": rng.random(len(inc_of)), "ev_field": rng.integers(0, 40, len(inc_of)),
    }


SOURCE_COMBOS = [[s] for s in SOURCES] + [[a, b] for a in SOURCES for b in SOURCES]


_ACTIONS = ("created", *ACTIONS)  # timeline actions: the creation record and the lifecycle's steps
_CODE = {s: i for i, s in enumerate(STATUSES)}  # status codes: positions in the shared STATUSES
# action -> the status code it leads to from each status code (-1: the lifecycle does not allow it there)
_MOVES = {a: np.array([_CODE.get(target(a, s) or "", -1) for s in STATUSES]) for a in TRANSITIONS}


def _walk(created: np.ndarray, steps) -> tuple[np.ndarray, list]:
    """Take every incident's steps through the lifecycle, so a synthetic history can only be a legal one.

    `steps` are (action, mask of incidents taking it, µs time) in the order they happen; returns the final
    status codes and, per step, (action, mask, time, status codes before, status codes after).
    """
    status = np.full(len(created), _CODE["new"])
    last = created.copy()
    walk = []
    for action, mask, at in steps:
        before = status[mask]
        after = _MOVES[action][before]
        if (after < 0).any() or (at[mask] < last[mask]).any():
            raise ValueError(f"synthetic history: {action} taken where or when the lifecycle does not allow it")
        status[mask] = after
        last[mask] = at[mask]
        walk.append((action, mask, at, before, after))
    return status, walk


def _write(store, world: _World, c: dict, *, timeline: bool, events: bool) -> None:
    """Reserve ids, build the Arrow tables, append them in one transaction."""
    n, m = c["n"], len(c["ev_inc"])
    ids: dict[str, int] = {}

    unit_counts = synth_units.counts(c["units"], c["satisfied"], c["fail_at"]) if timeline else {}

    def alloc(conn) -> None:
        ids["inc"] = store.allocate_ids(conn, "incidents", n)
        ids["ev"] = store.allocate_ids(conn, "events", m) if events else 0
        for table, count in unit_counts.items():
            ids[table] = store.allocate_ids(conn, table, count)

    store.write(alloc)
    tables = [("incidents", _incidents(world, c, ids["inc"]))]
    if timeline:
        tables.append(("incident_timeline", _timeline(world, c, ids["inc"])))
        tables.append(("incident_timeline", synth_units.timeline(world.cast, c["units"], ids["inc"], world.officers,
                                                                 c["officer"])))
        made = synth_units.tables(world.cast, c["units"], c, ids["inc"], ids, world.officers, c["unit_rng"],
                                  c["end_us"])
        tables.extend(made.items())
    if events:
        tables.append(("events", _events(world, c, ids["inc"], ids["ev"])))

    def insert(conn) -> None:
        for table, data in tables:
            conn.register("synth_chunk", data)
            try:
                conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM synth_chunk")  # noqa: S608 - fixed names
            finally:
                conn.unregister("synth_chunk")

    store.write(insert, timeout=None)


def _nullable(indices: np.ndarray, values: list) -> pa.Array:
    """Like _dict, with index -1 meaning NULL."""
    idx = np.asarray(indices, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(idx, mask=idx < 0), pa.array(values, type=pa.string())).cast(
        pa.string())


def _incidents(w: _World, c: dict, base: int) -> pa.Table:
    n, cat, grid, t = c["n"], c["cat"], c["grid"], c["times"]
    ng = len(w.grids)
    combo = c["combo"]
    lens = np.array([len(x) for x in SOURCE_COMBOS])[combo]
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    flat = np.empty(int(offsets[-1]), dtype=np.int32)
    first = np.array([SOURCES.index(x[0]) for x in SOURCE_COMBOS])
    second = np.array([SOURCES.index(x[-1]) for x in SOURCE_COMBOS])
    flat[offsets[:-1]] = first[combo]
    two = lens == 2
    flat[offsets[:-1][two] + 1] = second[combo[two]]
    sources = pa.ListArray.from_arrays(pa.array(offsets), _dict(flat, SOURCES))
    local = np.arange(n)
    merged_into = np.where(c["is_merged"], base + local - c["merge_back"], 0)
    sat = c["satisfied"]
    device = c["device"]
    dedup = _nullable(np.where(device >= 0, device, -1), [f"sensor|{d}" for d in c["dev_names"]] or [""])
    dept = np.array([i if d is not None else -1 for i, d in enumerate(w.domain_dept)])
    return pa.table({
        "incident_id": pa.array(base + local, type=pa.int64()),
        "version": pa.array(1 + c["steps_taken"] + c["escalations"], type=pa.int32()),
        "status": _dict(c["status"], STATUSES),
        "domain": _dict(w.cat_domain[cat], w.domain_names),
        "category": _dict(cat, [x.code for x in CATEGORIES]),
        "severity": _dict(c["sev"], SEVERITIES),
        "title": _dict(cat * ng + grid, w.titles),
        "area_code": _dict(grid, w.grid_codes),
        "street_code": _dict(grid, [street_of(g) or "" for g in w.grid_codes]),
        "district_code": _dict(grid, [district_of(g) for g in w.grid_codes]),
        "level": _dict(c["level"], LEVELS),
        "department": _nullable(dept[w.cat_domain[cat]], [d or "" for d in w.domain_dept]),
        "lat": np.round(c["lat"], COORDINATE_DECIMALS), "lon": np.round(c["lon"], COORDINATE_DECIMALS),
        "source": _dict(c["src"], SOURCES),
        "sources": sources,
        "rule_id": _dict(cat, [f"hist.{x.code}" for x in CATEGORIES]),
        "dedup_key": dedup,
        "report_count": pa.array(np.maximum(c["report_count"], 1), type=pa.int32()),
        "created_at": _ts(c["created"]),
        "updated_at": _ts(c["updated"]),
        "acknowledged_at": _ts(t["ack"]),
        "dispatched_at": _ts(t["dispatch"]),
        "resolved_at": _ts(t["res"]),
        "closed_at": _ts(t["closed"]),
        "last_report_at": _ts(c["last_report"]),
        "ack_due_at": _ts(c["ack_due"]),
        "resolve_due_at": _ts(c["res_due"]),
        "ack_warned": c["ack_warned"], "resolve_warned": c["res_warned"],
        "ack_overdue": c["ack_overdue"], "overdue": c["overdue"], "supervised": c["overdue"],
        "escalations": pa.array(c["escalations"], type=pa.int32()),
        "merged_into": pa.array(merged_into, type=pa.int64(), mask=~c["is_merged"]),
        "verify_failures": pa.array(c["verify_failures"], type=pa.int32()),
        "satisfied": pa.array(sat == 1, mask=sat < 0),
    })


def _timeline(w: _World, c: dict, base: int) -> pa.Table:
    n, cat, grid = c["n"], c["cat"], c["grid"]
    ng = len(w.grids)
    officer = 1 + c["officer"]  # actor 0 is "system"
    fixed = w.note_fixed
    parts: list[tuple] = []  # (mask, ts, actor, action, from, to, note)
    all_rows = np.ones(n, dtype=bool)
    parts.append((all_rows, c["created"], 0, "created", -1, _CODE["new"], cat * ng + grid))
    # the SLA sweep's steps keep the status (from/to NULL, as the sweep writes them)
    ack_esc = c["ack_overdue"] & (c["escalations"] > 0)
    parts.append((ack_esc, c["ack_due"], 0, "escalated", -1, -1,
                  w.note_ack_escalate + np.minimum(c["base_level"] + 1, len(LEVELS) - 1)))
    res_esc = c["overdue"] & (c["res_due"] <= c["updated"].max())
    parts.append((res_esc, c["res_due"], 0, "overdue", -1, -1, w.note_res_escalate + c["level"]))
    notes = {"acknowledge": fixed, "dispatch": w.note_dispatch + w.cat_domain[cat], "resolve": fixed + 1,
             "feedback": fixed + 1,
             "verify_fail": fixed + 2, "close": fixed + 3, "false_alarm": fixed + 4, "merge": fixed + 5}
    unit_actor = 1 + len(w.officers) + c["units"]["lead"]  # a unit's user reports its feedback
    for action, mask, at, before, after in c["walk"]:
        frm, to = np.full(n, -1), np.full(n, -1)
        frm[mask], to[mask] = before, after
        parts.append((mask, at, unit_actor if action == "feedback" else officer, action, frm, to, notes[action]))
    cols: dict[str, list] = {k: [] for k in ("inc", "ts", "actor", "action", "from", "to", "note")}
    for mask, ts, actor, action, frm, to, note in parts:
        rows = np.flatnonzero(mask)
        cols["inc"].append(rows)
        cols["ts"].append(np.broadcast_to(ts, (n,))[rows])
        cols["actor"].append(np.broadcast_to(actor, (n,))[rows])
        cols["action"].append(np.full(len(rows), _ACTIONS.index(action)))
        cols["from"].append(np.broadcast_to(frm, (n,))[rows])
        cols["to"].append(np.broadcast_to(to, (n,))[rows])
        cols["note"].append(np.broadcast_to(note, (n,))[rows])
    a = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((a["inc"], a["ts"]))  # time order, as the live system appends them
    a = {k: v[order] for k, v in a.items()}
    return pa.table({
        "incident_id": pa.array(base + a["inc"], type=pa.int64()),
        "ts": _ts(a["ts"]),
        "actor": _dict(a["actor"], ["system", *w.officers, *w.cast.actors]),
        "action": _dict(a["action"], _ACTIONS),
        "from_status": _nullable(a["from"], list(STATUSES)),
        "to_status": _nullable(a["to"], list(STATUSES)),
        "note": _dict(a["note"], w.notes),
    })


def _events(w: _World, c: dict, inc_base: int, ev_base: int) -> pa.Table:
    inc = c["ev_inc"]
    m = len(inc)
    ng = len(w.grids)
    src = c["ev_src"]
    cat = c["cat"][inc]
    grid = c["grid"][inc]
    event_id = ev_base + np.arange(m)
    sensor, grid_rep, hotline = src == 0, src == 1, src == 2
    device = np.where(sensor, c["device"][inc], -1)
    sensor &= device >= 0
    # natural keys: device:event_id for readings, GR/SR numbers for reports and requests
    prefix_idx = np.where(sensor, device, len(c["dev_names"]) + np.where(grid_rep, 0, 1))
    prefixes = [f"{d}:" for d in c["dev_names"]] + ["GR", "SR"]
    nk = pc.binary_join_element_wise(_dict(prefix_idx, prefixes), pc.cast(pa.array(event_id), pa.string()), "")
    source_id = _dict(src, w.source_ids)
    sid_list = [w.source_ids[s] for s in range(3)]
    nk_list = nk.to_pylist()
    src_list = src.tolist()
    key = np.fromiter((key_hash(sid_list[s], k) for s, k in zip(src_list, nk_list, strict=True)),
                      dtype=np.uint64, count=m)
    hot = np.flatnonzero(hotline)
    ref = np.zeros(m, dtype=np.uint64)
    ref[hot] = key[hot]  # a request's first report: natural key = request id
    fields = pc.if_else(
        pa.array(hotline),
        pc.binary_join_element_wise(pa.scalar('{"request_id": "'), nk, pa.scalar('"}'), ""),
        _dict(np.where(sensor, 40, 0) + c["ev_field"], w.reporters + w.batteries),
    )
    kinds = [x.kind for x in CATEGORIES]
    metrics = [x.metric for x in CATEGORIES]
    evnames = [x.event for x in CATEGORIES]
    lo = np.array([x.value[0] if x.value else np.nan for x in CATEGORIES])
    hi = np.array([x.value[1] if x.value else np.nan for x in CATEGORIES])
    value = lo[cat] + c["ev_u"] * (hi[cat] - lo[cat])
    no_sensor = ~sensor

    def sensor_only(values: list) -> pa.Array:
        idx = np.where(sensor & np.array([v is not None for v in values])[cat], cat, -1)
        return _nullable(idx, [v or "" for v in values])

    text_idx = np.where(no_sensor, (cat * w.max_texts + c["ev_tpl"]) * ng + grid, len(w.texts) - 1)
    lat = c["lat"][inc] + np.where(no_sensor, (c["ev_u"] - 0.5) * 0.0008, 0)
    lon = c["lon"][inc] + np.where(no_sensor, (c["ev_u"] - 0.5) * 0.0008, 0)
    given_cat = grid_rep & (c["ev_u"] < 0.7) & (cat != len(CATEGORIES) - 1)
    return pa.table({
        "event_id": pa.array(event_id, type=pa.int64()),
        "source": _dict(src, SOURCES),
        "source_id": source_id,
        "natural_key": nk,
        "key_hash": pa.array(key, type=pa.uint64()),
        "occurred_at": _ts(c["ev_occ"]),
        "received_at": _ts(c["ev_received"]),
        "kind": sensor_only(kinds),
        "device_id": _nullable(device, list(c["dev_names"]) or [""]),
        "metric": sensor_only(metrics),
        "value": pa.array(value, mask=~sensor | np.isnan(value)),
        "event": sensor_only(evnames),
        "text": _dict(text_idx, w.texts),
        "category": _nullable(np.where(given_cat, cat, -1), [x.code for x in CATEGORIES]),
        "area_code": _dict(grid, w.grid_codes),
        "lat": np.round(lat, COORDINATE_DECIMALS), "lon": np.round(lon, COORDINATE_DECIMALS),
        "address": _nullable(np.where(hotline, grid * w.n_addr + c["ev_addr"], -1), w.addresses),
        "fields": fields,
        "incident_id": pa.array(inc_base + inc, type=pa.int64()),
        "rule_id": _dict(cat, [f"hist.{x.code}" for x in CATEGORIES]),
        "ref_hash": pa.array(ref, type=pa.uint64(), mask=~hotline),
    })


def main(argv: list[str] | None = None) -> int:
    """`python3 -m ops_center.demo.synth --db PATH --days N --per-day M`: fill a store with history."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--db", required=True)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--per-day", type=int, default=400)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--end", default=None, help="ISO time the history ends (default: now)")
    parser.add_argument("--no-timeline", action="store_true")
    parser.add_argument("--no-events", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = load_config(args.config)
    end = datetime.fromisoformat(args.end) if args.end else datetime.now(UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    with Store(Path(args.db)) as store:
        n = generate_history(store, cfg, days=args.days, incidents_per_day=args.per_day, seed=args.seed, end=end,
                             timeline=not args.no_timeline, events=not args.no_events)
    log.info("wrote %d incidents to %s", n, args.db)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
