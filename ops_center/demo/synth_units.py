"""The responsible units in the synthetic history: who was sent each case, when they accepted, returned, reported.

Vectorised over a chunk like synth.py, drawn from the chunk's own generator. Every dispatched case of a
domain with a department goes to that department as lead (主办); about a third of the community-level
domains' cases also go to the grid's community as co-handler (协办). The lead accepts (签收, a few after
the 2 h limit), sometimes returns it first (退单) and the center sends it back (强派); its feedback is
the step that resolves the case (`feedback`, instead of an officer's `resolve`); the co-handler accepts
and reports on the timeline before the lead does. Failed verifications become 核查 records of the
officer who checked; rated hotline cases get their 回访 record (a 不满意 in the history is not replayed as
重办: its deadline and timeline stay the SLA policy's). Deadlines are never moved (no 延期 in the history).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa

from ops_center.core.config import Config
from ops_center.core.units import units

_US = 1_000_000
_NONE = -1
ASSIGNMENT_STATUSES = ("pending", "accepted", "returned", "done")
SATISFACTION = ("满意", "基本满意", "不满意")
_NOTES = ("已签收", "非本单位职责，申请退单", "经核实属该单位职责，强派", "协办单位已配合处置", "处置完成，已反馈",
          "已超期，请于一日内办结")
_SUPERVISE_NOTE = _NOTES[5]
LEADER = "leader"


class UnitCast:
    """Which unit plays each domain and grid, and the user name each unit acts under."""

    def __init__(self, cfg: Config, domain_names: list[str], domain_dept: list[str | None], grid_codes: list[str],
                 domain_community: list[bool]):
        all_units = units(cfg)
        self.codes = list(all_units)
        index = {code: i for i, code in enumerate(self.codes)}
        users = {u.unit: u.username for u in cfg.users if u.unit}
        self.actors = [users.get(code, f"{code}.staff") for code in self.codes]
        self.domain_lead = np.array([index.get(d or "", _NONE) for d in domain_dept])
        self.domain_community = np.array(domain_community, dtype=bool)
        self.grid_community = np.array([index.get(f"community:{g[:12]}", _NONE) for g in grid_codes])
        self.accept_within_us = cfg.work_orders.accept_within // timedelta(microseconds=1)
        self.domain_names = domain_names


def plan(cast: UnitCast, rng: np.random.Generator, *, domain: np.ndarray, grid: np.ndarray, dispatch_at: np.ndarray,
         resolved1: np.ndarray, resolved: np.ndarray, has_dispatch: np.ndarray, has_res1: np.ndarray,
         has_res: np.ndarray, end_us: int, res_due: np.ndarray, overdue: np.ndarray, closed_at: np.ndarray) -> dict:
    """Every unit step of one chunk as µs times (-1: not taken); `lead_ok` says whose resolve is a unit's feedback."""
    n = len(domain)
    lead = np.where(has_dispatch, cast.domain_lead[domain], _NONE)
    lead_ok = lead >= 0
    co = np.where(lead_ok & cast.domain_community[domain] & (rng.random(n) < 0.33), cast.grid_community[grid], _NONE)
    # the time the unit had before its first feedback (or until now, while it is open)
    window = np.where(has_res1, resolved1, end_us) - dispatch_at
    window = np.maximum(window, 0)
    cap = np.where(has_res1, (0.6 * window).astype(np.int64), np.iinfo(np.int64).max // 4)
    returned = lead_ok & (rng.random(n) < 0.05)
    lead_accept = dispatch_at + np.minimum((rng.lognormal(np.log(25 * 60), 0.9, n) * _US).astype(np.int64), cap)
    return_at = dispatch_at + (0.15 * window).astype(np.int64) + 30 * _US
    force_at = dispatch_at + (0.25 * window).astype(np.int64) + 60 * _US
    lead_accept = np.where(returned, dispatch_at + (0.35 * window).astype(np.int64) + 90 * _US, lead_accept)

    def seen(t: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.where(mask & (t <= end_us), t, _NONE)

    has_co = co >= 0
    co_cap = np.where(has_res1, (0.7 * window).astype(np.int64), np.iinfo(np.int64).max // 4)
    co_accept = dispatch_at + np.minimum((rng.lognormal(np.log(40 * 60), 0.9, n) * _US).astype(np.int64), co_cap)
    co_accept = seen(co_accept, has_co)
    co_feedback = np.where(has_res1 & (co_accept >= 0), co_accept + (resolved1 - co_accept) // 2, _NONE)
    # 督办: a leader's formal record on a fifth of the overdue unit cases, soon after the deadline passed
    # (before the unit's late feedback), due a day later; closed when the case closed.
    late_by = np.where(has_res1, resolved1, end_us) - res_due
    supervise = lead_ok & overdue & (late_by > 120 * _US) & (rng.random(n) < 0.2)
    supervise_at = res_due + np.minimum(late_by // 3, 3600 * _US) + 60 * _US
    supervise &= supervise_at > dispatch_at + 60 * _US  # while the case is with its unit
    return {
        "lead": lead, "lead_ok": lead_ok, "co": co, "dispatch": dispatch_at,
        "return_at": seen(return_at, returned), "force_at": seen(force_at, returned),
        "lead_accept": seen(lead_accept, lead_ok), "co_accept": co_accept, "co_feedback": co_feedback,
        "lead_done": np.where(lead_ok & has_res, resolved, _NONE),
        "feedback1": np.where(lead_ok & has_res1, resolved1, _NONE),
        "accept_due": dispatch_at + cast.accept_within_us,
        "supervise_at": seen(supervise_at, supervise), "closed_at": closed_at,
    }


def _ts(us: np.ndarray) -> pa.Array:
    """µs since the epoch (-1: NULL) as a naive UTC timestamp in whole seconds, as synth._ts and the store keep them."""
    us = np.asarray(us, dtype=np.int64)
    return pa.array(us // _US, type=pa.timestamp("s"), mask=us < 0)


def _text(indices: np.ndarray, values: list[str]) -> pa.Array:
    idx = np.asarray(indices, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(idx, mask=idx < 0), pa.array(values, pa.string()))


def counts(p: dict, satisfied: np.ndarray, fail_at: np.ndarray) -> dict[str, int]:
    """How many ids each table needs for this chunk (the writer allocates them before building the tables)."""
    return {"assignments": int((p["lead"] >= 0).sum() + (p["co"] >= 0).sum()),
            "feedback": int((p["feedback1"] >= 0).sum() + ((p["lead_done"] >= 0) & (fail_at >= 0)).sum()
                            + (p["co_feedback"] >= 0).sum()),
            "verifications": int((fail_at >= 0).sum()), "callbacks": int((satisfied >= 0).sum()),
            "supervisions": int((p["supervise_at"] >= 0).sum())}


def tables(cast: UnitCast, p: dict, c: dict, inc_base: int, ids: dict[str, int], officers: list[str],
           rng: np.random.Generator, end_us: int) -> dict[str, pa.Table]:
    """The work-order rows of one chunk: assignments, feedback, verifications and callbacks."""
    n = c["n"]
    lead_rows, co_rows = np.flatnonzero(p["lead"] >= 0), np.flatnonzero(p["co"] >= 0)
    inc = np.concatenate([lead_rows, co_rows])
    is_lead = np.concatenate([np.ones(len(lead_rows), bool), np.zeros(len(co_rows), bool)])
    unit = np.concatenate([p["lead"][lead_rows], p["co"][co_rows]])
    accept = np.concatenate([p["lead_accept"][lead_rows], p["co_accept"][co_rows]])
    done = np.concatenate([p["lead_done"][lead_rows], p["co_feedback"][co_rows]])
    ret = np.concatenate([p["return_at"][lead_rows], np.full(len(co_rows), _NONE)])
    force = np.concatenate([p["force_at"][lead_rows], np.full(len(co_rows), _NONE)])
    status = np.where(done >= 0, 3, np.where(accept >= 0, 1, np.where((ret >= 0) & (force < 0), 2, 0)))
    due = p["accept_due"][inc]
    officer = np.array(officers)[c["officer"][inc]]
    assignments = pa.table({
        "assignment_id": pa.array(ids["assignments"] + np.arange(len(inc)), pa.int64()),
        "incident_id": pa.array(inc_base + inc, pa.int64()),
        "unit": _text(unit, cast.codes), "role": pa.array(np.where(is_lead, "lead", "co")),
        "status": _text(status, list(ASSIGNMENT_STATUSES)), "round": pa.array(np.ones(len(inc), np.int32)),
        "dispatched_by": pa.array(officer), "dispatched_at": _ts(p["dispatch"][inc]), "accept_due_at": _ts(due),
        "accepted_by": _text(np.where(accept >= 0, unit, _NONE), cast.actors), "accepted_at": _ts(accept),
        "accepted_late": pa.array(accept > due, mask=accept < 0),
        "returned_by": _text(np.where(ret >= 0, unit, _NONE), cast.actors), "returned_at": _ts(ret),
        "return_reason": _text(np.where(ret >= 0, 1, _NONE), list(_NOTES)),
        "returns": pa.array((ret >= 0).astype(np.int32)),
        "decided_by": pa.array(officer, mask=force < 0), "decided_at": _ts(force),
        "decision": pa.array(np.full(len(inc), "force"), mask=force < 0),
        "done_at": _ts(done),
    })
    # feedback: the lead's first (and, after a failed verification, second) report, the co-handler's report
    fail = c["fail_at"]
    second = np.flatnonzero((p["lead_done"] >= 0) & (fail >= 0))
    f_inc = np.concatenate([np.flatnonzero(p["feedback1"] >= 0), second, np.flatnonzero(p["co_feedback"] >= 0)])
    f_lead = np.concatenate([np.ones(len(f_inc) - int((p["co_feedback"] >= 0).sum()), bool),
                             np.zeros(int((p["co_feedback"] >= 0).sum()), bool)])
    f_ts = np.concatenate([p["feedback1"][p["feedback1"] >= 0], p["lead_done"][second],
                           p["co_feedback"][p["co_feedback"] >= 0]])
    f_unit = np.where(f_lead, p["lead"][f_inc], p["co"][f_inc])
    a_index = np.full((n, 2), _NONE)
    a_index[inc[is_lead], 0] = ids["assignments"] + np.flatnonzero(is_lead)
    a_index[inc[~is_lead], 1] = ids["assignments"] + np.flatnonzero(~is_lead)
    feedback = pa.table({
        "feedback_id": pa.array(ids["feedback"] + np.arange(len(f_inc)), pa.int64()),
        "assignment_id": pa.array(a_index[f_inc, np.where(f_lead, 0, 1)], pa.int64()),
        "incident_id": pa.array(inc_base + f_inc, pa.int64()), "unit": _text(f_unit, cast.codes),
        "role": pa.array(np.where(f_lead, "lead", "co")), "author": _text(f_unit, cast.actors), "ts": _ts(f_ts),
        "note": _text(np.where(f_lead, 4, 3), list(_NOTES)),
        "photos": pa.array([[] for _ in range(len(f_inc))], pa.list_(pa.string())),
    })
    v_inc = np.flatnonzero(fail >= 0)
    verifications = pa.table({
        "verification_id": pa.array(ids["verifications"] + np.arange(len(v_inc)), pa.int64()),
        "incident_id": pa.array(inc_base + v_inc, pa.int64()),
        "verifier": pa.array(np.array(officers)[c["officer"][v_inc]]), "role": pa.array(np.full(len(v_inc), "officer")),
        "ts": _ts(fail[v_inc]), "passed": pa.array(np.zeros(len(v_inc), bool)),
        "note": pa.array(np.full(len(v_inc), "核查不通过，退回重办")),
    })
    sat = c["satisfied"]
    cb = np.flatnonzero(sat >= 0)
    level = np.where(sat[cb] == 1, np.where(rng.random(len(cb)) < 0.7, 0, 1), 2)
    closed = c["times"]["closed"][cb]
    callbacks = pa.table({
        "callback_id": pa.array(ids["callbacks"] + np.arange(len(cb)), pa.int64()),
        "incident_id": pa.array(inc_base + cb, pa.int64()),
        "recorded_by": pa.array(np.array(officers)[c["officer"][cb]]), "round": pa.array(np.ones(len(cb), np.int32)),
        "ts": _ts(np.minimum(closed + 20 * 3600 * _US, np.maximum(end_us, closed))), "satisfaction": _text(level, list(SATISFACTION)),
        "redo": pa.array(np.zeros(len(cb), bool)),
    })
    s_inc = np.flatnonzero(p["supervise_at"] >= 0)
    issued = p["supervise_at"][s_inc]
    supervisions = pa.table({
        "supervision_id": pa.array(ids["supervisions"] + np.arange(len(s_inc)), pa.int64()),
        "incident_id": pa.array(inc_base + s_inc, pa.int64()), "issued_by": pa.array(np.full(len(s_inc), LEADER)),
        "issued_at": _ts(issued), "due_at": _ts(issued + 86400 * _US),
        "note": pa.array(np.full(len(s_inc), _SUPERVISE_NOTE)), "closed_at": _ts(p["closed_at"][s_inc]),
    })
    return {"assignments": assignments, "feedback": feedback, "verifications": verifications, "callbacks": callbacks,
            "supervisions": supervisions}


def timeline(cast: UnitCast, p: dict, inc_base: int, officers: list[str], officer: np.ndarray) -> pa.Table:
    """The units' in-place steps on the timeline (签收, 退单 and 强派, 协办反馈); their feedback is synth's walk."""
    parts = [("accept", p["lead_accept"], p["lead"], 0), ("return_order", p["return_at"], p["lead"], 1),
             ("decide_return", p["force_at"], -2, 2), ("accept", p["co_accept"], p["co"], 0),
             ("co_feedback", p["co_feedback"], p["co"], 3), ("supervise", p["supervise_at"], -3, 5)]
    actors = [*cast.actors, *officers, LEADER]
    cols: dict[str, list] = {k: [] for k in ("inc", "ts", "actor", "action", "note")}
    for action, at, who, note in parts:
        rows = np.flatnonzero(at >= 0)
        cols["inc"].append(rows)
        cols["ts"].append(at[rows])
        if isinstance(who, int):  # -2: the case's officer, -3: the leader
            cols["actor"].append(len(cast.actors) + officer[rows] if who == -2 else np.full(len(rows), len(actors) - 1))
        else:
            cols["actor"].append(who[rows])
        cols["action"].append(np.full(len(rows), action))
        cols["note"].append(np.full(len(rows), note))
    a = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((a["inc"], a["ts"]))
    a = {k: v[order] for k, v in a.items()}
    return pa.table({
        "incident_id": pa.array(inc_base + a["inc"], pa.int64()), "ts": _ts(a["ts"]),
        "actor": _text(a["actor"], actors), "action": pa.array(a["action"], pa.string()),
        "from_status": pa.array(np.full(len(a["inc"]), "dispatched")),  # every unit step here keeps it dispatched
        "to_status": pa.array(np.full(len(a["inc"]), "dispatched")),
        "note": _text(a["note"], list(_NOTES)),
    })
