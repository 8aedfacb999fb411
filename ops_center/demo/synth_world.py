"""The static frame a synthetic history lives in, built once from the config: grids, devices, SLA, texts."""

from __future__ import annotations

import logging
from datetime import timedelta

import numpy as np

from ops_center.core.area_codes import prefix, street_of
from ops_center.core.config import Config
from ops_center.core.devices import load_devices
from ops_center.core.domains import LEVELS, SEVERITIES
from ops_center.core.sla import SlaPolicy
from ops_center.demo import synth_units
from ops_center.demo.synth_categories import CATEGORIES, SOURCE_IDS, SOURCES

log = logging.getLogger(__name__)


class World:
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
