"""The scheduler wiring: the sweep job's options, and the job applying a sweep at the context's (fixed) clock."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ops_center.service.bus import Bus, IncidentEscalated
from ops_center.service.incidents import IncidentService
from ops_center.store.store import Store
from ops_center.web.context import AppContext
from ops_center.wiring.scheduler import SWEEP_JOB_ID, add_cron_job, build_scheduler, run_sweep
from tests.factories import FixedClock, make_incident


@pytest.fixture
def ctx(cfg, config_path, db_path, fixed_now):
    store = Store(db_path)
    bus = Bus()
    clock = FixedClock(fixed_now)
    yield AppContext(cfg=cfg, config_path=config_path, store=store, bus=bus,
                     service=IncidentService(store, bus, cfg, clock), clock=clock)
    bus.close()
    store.close()


def test_build_scheduler_returns_it_unstarted_with_the_sweep_job(ctx):
    scheduler = build_scheduler(ctx)
    assert not scheduler.running
    assert str(scheduler.timezone) == "Asia/Shanghai"
    job = scheduler.get_job(SWEEP_JOB_ID)
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval == ctx.cfg.escalation.sweep_interval
    assert (job.coalesce, job.max_instances) == (True, 1)


def test_the_sweep_job_escalates_at_the_context_clock(ctx):
    iid = make_incident(ctx.store, ctx.cfg, now=ctx.clock.now, domain="public_security", severity="P1")
    seen: list = []
    ctx.bus.subscribe(seen.append)
    job = build_scheduler(ctx).get_job(SWEEP_JOB_ID)
    assert job.func() == []  # nothing due yet
    ctx.clock.advance(minutes=6)
    applied = job.func()
    assert [(a.kind, a.to_level) for a in applied] == [("escalate", "street")]
    row = ctx.service.get(iid)
    assert (row["level"], row["ack_due_at"]) == ("street", ctx.clock.now + timedelta(minutes=5))
    ctx.bus.drain()
    assert [(e.incident_id, e.to_level) for e in seen if isinstance(e, IncidentEscalated)] == [(iid, "street")]


def test_run_sweep_takes_an_explicit_now(ctx):
    make_incident(ctx.store, ctx.cfg, now=ctx.clock.now, domain="public_security", severity="P1")
    applied = run_sweep(ctx, now=ctx.clock.now + timedelta(minutes=4))
    assert [(a.kind, a.clock) for a in applied] == [("warn", "acknowledge")]


def test_the_job_logs_instead_of_raising(ctx, caplog):
    caplog.set_level(logging.DEBUG, logger="ops_center.wiring.scheduler")
    job = build_scheduler(ctx).get_job(SWEEP_JOB_ID)
    ctx.store.close()
    assert job.func() == []
    assert "sweep" in caplog.text


def test_others_add_cron_jobs_with_the_same_safety_options(ctx):
    scheduler = build_scheduler(ctx)
    calls: list = []
    add_cron_job(scheduler, lambda: calls.append(1), job_id="weekly_report", day_of_week="mon", hour=8, minute=0)
    job = scheduler.get_job("weekly_report")
    assert isinstance(job.trigger, CronTrigger)
    assert (job.coalesce, job.max_instances) == (True, 1)
    assert {f.name: str(f) for f in job.trigger.fields}["day_of_week"] == "mon"
    assert not scheduler.running
    job.func()
    assert calls == [1]
