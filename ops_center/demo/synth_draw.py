"""The random draws of a synthetic history: how many incidents per hour, and every column of one chunk."""

from __future__ import annotations

import numpy as np

from ops_center.core.domains import LEVELS
from ops_center.demo import synth_units
from ops_center.demo.synth_arrow import US
from ops_center.demo.synth_categories import (
    CATEGORIES,
    HOUR_WEIGHTS,
    STORM_CATEGORIES,
    WEEKDAY_FACTOR,
    category_weights,
)
from ops_center.demo.synth_walk import walk_lifecycle
from ops_center.demo.synth_world import World


def plan(days: int, per_day: int, end_us: int, seed: int, tz_offset_h: float,
          chunk_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Counts per hour slot (exact total days × per_day) and chunk boundaries over the slots."""
    total = days * per_day
    start_us = end_us - days * 86_400 * US
    slot0 = start_us // (3600 * US)
    n_slots = int(-(-(end_us - slot0 * 3600 * US) // (3600 * US)))
    slot_us = (slot0 + np.arange(n_slots)) * 3600 * US
    local = slot_us + int(tz_offset_h * 3600 * US)
    hour = (local // (3600 * US)) % 24
    day = local // (86_400 * US)
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
    span_hi = np.minimum(slot_us + 3600 * US, end_us)
    w *= (span_hi - span_lo) / (3600 * US)
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


def draw_chunk(world: World, rng: np.random.Generator, created: np.ndarray, storm: np.ndarray, end_us: int) -> dict:
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
    ack_win = np.maximum(ack_due - created, 60 * US)
    res_win = np.maximum(res_due - created, 600 * US)
    ack_at = created + (ack_win * rng.lognormal(np.log(0.35), 0.9, n)).astype(np.int64) + 15 * US
    dispatch_at = ack_at + (rng.exponential(1500, n) * US).astype(np.int64) + 30 * US
    resolved1 = created + (res_win * rng.lognormal(np.log(0.42), 0.75, n)).astype(np.int64)
    resolved1 = np.maximum(resolved1, dispatch_at + 300 * US)
    verify_fail = rng.random(n) < 0.03
    fail_at = resolved1 + (rng.exponential(4 * 3600, n) * US).astype(np.int64)
    resolved = np.where(verify_fail, fail_at + (rng.exponential(12 * 3600, n) * US).astype(np.int64) + 1800 * US,
                        resolved1)
    closed_at = resolved + (rng.exponential(5 * 3600, n) * US).astype(np.int64) + 600 * US
    stuck = rng.random(n) < 0.0004  # a few never get done: the long-overdue backlog
    resolved = np.where(stuck, np.iinfo(np.int64).max // 2, resolved)
    resolved1 = np.where(stuck, resolved, resolved1)
    closed_at = np.where(stuck, resolved, closed_at)
    fa_p = np.array([0.09, 0.02, 0.035])[src]
    false_alarm = (rng.random(n) < fa_p) & ~stuck
    fa_at = ack_at + (rng.exponential(1200, n) * US).astype(np.int64) + 60 * US
    merged = (src > 0) & (rng.random(n) < 0.015) & ~false_alarm & ~stuck
    merge_back = rng.integers(1, 60, n)
    merged &= np.arange(n) >= merge_back
    merged_at = created + (rng.exponential(900, n) * US).astype(np.int64) + 60 * US

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
    status, walk = walk_lifecycle(created, (
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
    occ = created[inc_of] - (rng.exponential(1.5, len(inc_of)) * US).astype(np.int64) - 200_000
    later = k > 0
    occ[later] = created[inc_of[later]] + (rng.exponential(1800, later.sum()) * US).astype(np.int64) * k[later]
    ev_src = src[inc_of].copy()
    is_corr = later & (k == n_rep[inc_of] - 1) & corr[inc_of]
    ev_src[is_corr] = corr_src[inc_of[is_corr]]
    keep = ~later | (occ < stop[inc_of])
    inc_of, k, occ, ev_src, is_corr = inc_of[keep], k[keep], occ[keep], ev_src[keep], is_corr[keep]
    received = occ + (rng.exponential(0.6, len(occ)) * US).astype(np.int64) + 50_000
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
