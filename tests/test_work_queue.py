"""Work-order read models: a unit's queue by deadline, grid tasks, the 回访 queue by working day, 督办 list."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ops_center.core.sla import WorkCalendar
from ops_center.read.work_queue import callback_cutoff, callback_queue, grid_tasks, supervision_list, unit_queue
from ops_center.store.store import to_db
from tests.factories import FixedClock, make_incident
from tests.fixtures_work_orders import GRID, JIANHUA


def send(wo, store, cfg, now, u, severity="P3", area=GRID, co=()):
    iid = make_incident(store, cfg, now=now, status="acknowledged", domain="city_management", severity=severity,
                        area_code=area)
    return iid, wo.dispatch(u["officer"], iid, 1, "urban_mgmt", co, note="派遣")["assignment_ids"]


def test_unit_queue_orders_by_the_deadline_that_matters_now(wo, store, cfg, fixed_now, clock, u):
    slow, (slow_a,) = send(wo, store, cfg, fixed_now, u, severity="P4")
    fast, (fast_a,) = send(wo, store, cfg, fixed_now, u, severity="P2")
    hung, (hung_a,) = send(wo, store, cfg, fixed_now, u, severity="P1")
    for a in (slow_a, fast_a, hung_a):
        wo.accept(u["unit_cg"], a)
    wo.hang(u["unit_cg"], hung, 2, "seasonal", "汛期后施工")
    clock.advance(minutes=1)
    pending, (pending_a,) = send(wo, store, cfg, clock.now, u, severity="P4")  # 签收 due in 2 h: before any resolve
    elsewhere, _ = send(wo, store, cfg, clock.now, u, area="510108004003001")
    queue = unit_queue(store, "urban_mgmt", None, clock.now)
    ids = queue["incident_id"].tolist()
    assert ids[-1] == hung and set(ids) == {slow, fast, hung, pending, elsewhere}
    assert ids.index(pending) < ids.index(fast) < ids.index(slow)
    first = queue.iloc[0]
    assert (first["assignment_status"], first["deadline"]) == ("pending", clock.now + timedelta(hours=2))
    assert queue.set_index("incident_id").loc[hung, "hung_kind"] == "seasonal"
    assert unit_queue(store, "urban_mgmt", "510108002", clock.now)["incident_id"].tolist().count(elsewhere) == 0
    assert unit_queue(store, JIANHUA, None, clock.now).empty
    later = clock.now + timedelta(days=30)
    late = unit_queue(store, "urban_mgmt", None, later).set_index("incident_id")
    assert bool(late.loc[pending, "accept_late"]) and bool(late.loc[slow, "overdue"])
    assert not bool(late.loc[hung, "overdue"])  # 挂账: never overdue


def test_unit_queue_shows_returns_reminders_and_pending_extensions(wo, store, cfg, fixed_now, u):
    iid, (lead, co) = send(wo, store, cfg, fixed_now, u, co=(JIANHUA,))
    wo.return_order(u["unit_jh"], co, "非社区职责")
    wo.accept(u["unit_cg"], lead)
    wo.request_extension(u["unit_cg"], lead, 3600, "等待材料")
    wo.remind(u["officer"], iid, "请加快")
    mine = unit_queue(store, "urban_mgmt", None, fixed_now).iloc[0]
    assert (mine["reminders"], mine["last_reminder_kind"], bool(mine["extension_pending"])) == (1, "manual", True)
    theirs = unit_queue(store, JIANHUA, None, fixed_now).iloc[0]
    assert (theirs["assignment_status"], theirs["return_reason"]) == ("returned", "非社区职责")


def test_grid_tasks_verify_and_own_reports(wo, store, cfg, fixed_now, u):
    iid, (lead,) = send(wo, store, cfg, fixed_now, u)
    wo.accept(u["unit_cg"], lead)
    wo.feedback(u["unit_cg"], lead, "已清理", photos=["f1"])
    make_incident(store, cfg, now=fixed_now, status="resolved", area_code="510108002002002")  # the other grid

    def add_event(conn):
        conn.execute("INSERT INTO events (event_id, source, source_id, natural_key, key_hash, occurred_at, "
                     "received_at, text, area_code, fields, incident_id) VALUES (1, 'grid', 'grid_reports', 'r1', 1, "
                     "?, ?, '占道经营', ?, ?, ?)", [to_db(fixed_now), to_db(fixed_now), GRID,
                                                 json.dumps({"reporter": "grid_jh1"}), iid])
    store.write(add_event)
    tasks = grid_tasks(store, "grid_jh1", GRID)
    assert tasks.verify["incident_id"].tolist() == [iid]
    assert (tasks.verify.iloc[0]["feedback_note"], list(tasks.verify.iloc[0]["feedback_photos"])) == ("已清理", ["f1"])
    assert tasks.reports[["incident_id", "status"]].values.tolist() == [[iid, "resolved"]]
    assert grid_tasks(store, "someone_else", GRID).reports.empty


def test_callback_cutoff_follows_working_days(cfg):
    cal = WorkCalendar(cfg.calendar, cfg.site.timezone)
    tz = cal.tz
    tuesday_10 = datetime(2026, 11, 24, 10, 0, tzinfo=tz)
    assert callback_cutoff(cal, tuesday_10, 1) == datetime(2026, 11, 24, 0, 0, tzinfo=tz)  # closed Monday → due now
    tuesday_7 = datetime(2026, 11, 24, 7, 0, tzinfo=tz)  # before working hours: Tuesday has not begun
    assert callback_cutoff(cal, tuesday_7, 1) == datetime(2026, 11, 23, 0, 0, tzinfo=tz)
    monday_10 = datetime(2026, 11, 23, 10, 0, tzinfo=tz)  # a case closed Friday or over the weekend is due Monday
    assert callback_cutoff(cal, monday_10, 1) == datetime(2026, 11, 21, 0, 0, tzinfo=tz) + timedelta(days=2)
    # 国庆: closed on 30 September, the next working day is 8 October (1–7 October are holidays)
    oct_7 = datetime(2026, 10, 7, 10, 0, tzinfo=tz)
    assert callback_cutoff(cal, oct_7, 1) == datetime(2026, 9, 30, 0, 0, tzinfo=tz)  # not yet due
    oct_8 = datetime(2026, 10, 8, 10, 0, tzinfo=tz)
    assert callback_cutoff(cal, oct_8, 1) == datetime(2026, 10, 8, 0, 0, tzinfo=tz)  # due
    assert callback_cutoff(cal, tuesday_10, 0) == tuesday_10


def test_callback_queue_next_working_day_and_once_per_round(wo, store, cfg, u):
    friday = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # 16:00 local, a Friday
    closed = make_incident(store, cfg, now=friday, status="closed", source="hotline", sources=["hotline"],
                           area_code=GRID)
    make_incident(store, cfg, now=friday, status="closed")  # a grid report: no 回访
    saturday = friday + timedelta(days=1)
    assert callback_queue(store, cfg, None, saturday).empty
    monday = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 local
    assert callback_queue(store, cfg, None, monday)["incident_id"].tolist() == [closed]
    assert callback_queue(store, cfg, "510108004", monday).empty  # another street's scope
    wo.clock = FixedClock(monday)
    wo.incidents.clock = wo.clock
    wo.record_callback(u["officer"], closed, "满意", "")
    assert callback_queue(store, cfg, None, monday).empty


def test_supervision_list(wo, store, cfg, fixed_now, clock, u):
    iid, _ = send(wo, store, cfg, fixed_now, u)
    sid = wo.supervise(u["leader"], iid, fixed_now + timedelta(hours=4), "限期办结")
    rows = supervision_list(store, None, fixed_now)
    assert rows[["supervision_id", "incident_id", "note"]].values.tolist() == [[sid, iid, "限期办结"]]
    assert not bool(rows.iloc[0]["overdue"])
    assert bool(supervision_list(store, None, fixed_now + timedelta(hours=5)).iloc[0]["overdue"])
    assert supervision_list(store, "510108004", fixed_now).empty
