"""One drawn chunk as the store's Arrow tables: incidents, their timelines and the events behind them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ops_center.core.area_codes import district_of, street_of
from ops_center.core.domains import LEVELS, SEVERITIES, STATUSES
from ops_center.demo.synth_arrow import nullable_strings, strings, timestamps
from ops_center.demo.synth_categories import CATEGORIES, SOURCE_COMBOS, SOURCES
from ops_center.demo.synth_walk import STATUS_CODE, TIMELINE_ACTIONS
from ops_center.demo.synth_world import World
from ops_center.service.pipeline import key_hash  # the pipeline's own hash: synthetic events dedup like live ones
from ops_center.store.store import COORDINATE_DECIMALS


def incidents_table(w: World, c: dict, base: int) -> pa.Table:
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
    sources = pa.ListArray.from_arrays(pa.array(offsets), strings(flat, SOURCES))
    local = np.arange(n)
    merged_into = np.where(c["is_merged"], base + local - c["merge_back"], 0)
    sat = c["satisfied"]
    device = c["device"]
    dedup = nullable_strings(np.where(device >= 0, device, -1), [f"sensor|{d}" for d in c["dev_names"]] or [""])
    dept = np.array([i if d is not None else -1 for i, d in enumerate(w.domain_dept)])
    return pa.table({
        "incident_id": pa.array(base + local, type=pa.int64()),
        "version": pa.array(1 + c["steps_taken"] + c["escalations"], type=pa.int32()),
        "status": strings(c["status"], STATUSES),
        "domain": strings(w.cat_domain[cat], w.domain_names),
        "category": strings(cat, [x.code for x in CATEGORIES]),
        "severity": strings(c["sev"], SEVERITIES),
        "title": strings(cat * ng + grid, w.titles),
        "area_code": strings(grid, w.grid_codes),
        "street_code": strings(grid, [street_of(g) or "" for g in w.grid_codes]),
        "district_code": strings(grid, [district_of(g) for g in w.grid_codes]),
        "level": strings(c["level"], LEVELS),
        "department": nullable_strings(dept[w.cat_domain[cat]], [d or "" for d in w.domain_dept]),
        "lat": np.round(c["lat"], COORDINATE_DECIMALS), "lon": np.round(c["lon"], COORDINATE_DECIMALS),
        "source": strings(c["src"], SOURCES),
        "sources": sources,
        "rule_id": strings(cat, [f"hist.{x.code}" for x in CATEGORIES]),
        "dedup_key": dedup,
        "report_count": pa.array(np.maximum(c["report_count"], 1), type=pa.int32()),
        "created_at": timestamps(c["created"]),
        "updated_at": timestamps(c["updated"]),
        "acknowledged_at": timestamps(t["ack"]),
        "dispatched_at": timestamps(t["dispatch"]),
        "resolved_at": timestamps(t["res"]),
        "closed_at": timestamps(t["closed"]),
        "last_report_at": timestamps(c["last_report"]),
        "ack_due_at": timestamps(c["ack_due"]),
        "resolve_due_at": timestamps(c["res_due"]),
        "ack_warned": c["ack_warned"], "resolve_warned": c["res_warned"],
        "ack_overdue": c["ack_overdue"], "overdue": c["overdue"], "supervised": c["overdue"],
        "escalations": pa.array(c["escalations"], type=pa.int32()),
        "merged_into": pa.array(merged_into, type=pa.int64(), mask=~c["is_merged"]),
        "verify_failures": pa.array(c["verify_failures"], type=pa.int32()),
        "satisfied": pa.array(sat == 1, mask=sat < 0),
    })


def timeline_table(w: World, c: dict, base: int) -> pa.Table:
    n, cat, grid = c["n"], c["cat"], c["grid"]
    ng = len(w.grids)
    officer = 1 + c["officer"]  # actor 0 is "system"
    fixed = w.note_fixed
    parts: list[tuple] = []  # (mask, ts, actor, action, from, to, note)
    all_rows = np.ones(n, dtype=bool)
    parts.append((all_rows, c["created"], 0, "created", -1, STATUS_CODE["new"], cat * ng + grid))
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
        cols["action"].append(np.full(len(rows), TIMELINE_ACTIONS.index(action)))
        cols["from"].append(np.broadcast_to(frm, (n,))[rows])
        cols["to"].append(np.broadcast_to(to, (n,))[rows])
        cols["note"].append(np.broadcast_to(note, (n,))[rows])
    a = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((a["inc"], a["ts"]))  # time order, as the live system appends them
    a = {k: v[order] for k, v in a.items()}
    return pa.table({
        "incident_id": pa.array(base + a["inc"], type=pa.int64()),
        "ts": timestamps(a["ts"]),
        "actor": strings(a["actor"], ["system", *w.officers, *w.cast.actors]),
        "action": strings(a["action"], TIMELINE_ACTIONS),
        "from_status": nullable_strings(a["from"], list(STATUSES)),
        "to_status": nullable_strings(a["to"], list(STATUSES)),
        "note": strings(a["note"], w.notes),
    })


def events_table(w: World, c: dict, inc_base: int, ev_base: int) -> pa.Table:
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
    nk = pc.binary_join_element_wise(strings(prefix_idx, prefixes), pc.cast(pa.array(event_id), pa.string()), "")
    source_id = strings(src, w.source_ids)
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
        strings(np.where(sensor, 40, 0) + c["ev_field"], w.reporters + w.batteries),
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
        return nullable_strings(idx, [v or "" for v in values])

    text_idx = np.where(no_sensor, (cat * w.max_texts + c["ev_tpl"]) * ng + grid, len(w.texts) - 1)
    lat = c["lat"][inc] + np.where(no_sensor, (c["ev_u"] - 0.5) * 0.0008, 0)
    lon = c["lon"][inc] + np.where(no_sensor, (c["ev_u"] - 0.5) * 0.0008, 0)
    given_cat = grid_rep & (c["ev_u"] < 0.7) & (cat != len(CATEGORIES) - 1)
    return pa.table({
        "event_id": pa.array(event_id, type=pa.int64()),
        "source": strings(src, SOURCES),
        "source_id": source_id,
        "natural_key": nk,
        "key_hash": pa.array(key, type=pa.uint64()),
        "occurred_at": timestamps(c["ev_occ"]),
        "received_at": timestamps(c["ev_received"]),
        "kind": sensor_only(kinds),
        "device_id": nullable_strings(device, list(c["dev_names"]) or [""]),
        "metric": sensor_only(metrics),
        "value": pa.array(value, mask=~sensor | np.isnan(value)),
        "event": sensor_only(evnames),
        "text": strings(text_idx, w.texts),
        "category": nullable_strings(np.where(given_cat, cat, -1), [x.code for x in CATEGORIES]),
        "area_code": strings(grid, w.grid_codes),
        "lat": np.round(lat, COORDINATE_DECIMALS), "lon": np.round(lon, COORDINATE_DECIMALS),
        "address": nullable_strings(np.where(hotline, grid * w.n_addr + c["ev_addr"], -1), w.addresses),
        "fields": fields,
        "incident_id": pa.array(inc_base + inc, type=pa.int64()),
        "rule_id": strings(cat, [f"hist.{x.code}" for x in CATEGORIES]),
        "ref_hash": pa.array(ref, type=pa.uint64(), mask=~hotline),
    })
