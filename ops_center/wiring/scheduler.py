"""APScheduler wiring: thin jobs around pure functions of `now`, so tests call them with a fixed clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler

from ops_center.core.sla import SlaPolicy
from ops_center.service.reminders import issue_reminders
from ops_center.service.sweep import Action, apply_sweep, load_open, sweep
from ops_center.store.store import StoreClosed
from ops_center.web.context import AppContext

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "sla_sweep"


def run_sweep(ctx: AppContext, now: datetime | None = None, policy: SlaPolicy | None = None) -> list[Action]:
    """One SLA sweep at `now` (default: the context's clock): load what is due, decide, apply, publish; then the
    units still working a case whose deadline nears or passed are reminded (催办, after the sweep's flags)."""
    now = now or ctx.clock()
    policy = policy or ctx.service.policy
    due = load_open(ctx.store, now, policy)
    applied = apply_sweep(ctx.store, ctx.bus, sweep(due, now, ctx.cfg, policy), now)
    issue_reminders(ctx.store, ctx.bus, now)
    return applied


def sweep_job(ctx: AppContext, policy: SlaPolicy | None = None) -> Callable[[], list[Action]]:
    """The scheduler's job function: a sweep at the context clock's now; never raises into APScheduler."""
    policy = policy or ctx.service.policy

    def job() -> list[Action]:
        try:
            return run_sweep(ctx, policy=policy)
        except StoreClosed:
            log.debug("sweep skipped: the store is closed (shutting down)")
        except Exception:  # noqa: BLE001 - a failed sweep is logged; the next one tries again
            log.exception("SLA sweep failed")
        return []

    return job


def build_scheduler(ctx: AppContext) -> BackgroundScheduler:
    """A scheduler (Asia/Shanghai) with the SLA sweep job, returned unstarted so others can add jobs."""
    scheduler = BackgroundScheduler(timezone=ZoneInfo(ctx.cfg.site.timezone))
    add_interval_job(scheduler, sweep_job(ctx), job_id=SWEEP_JOB_ID, every=ctx.cfg.escalation.sweep_interval,
                     name="SLA sweep (warn, escalate, 超期/督办)")
    return scheduler


def add_interval_job(scheduler: BackgroundScheduler, fn: Callable, *, job_id: str, every: timedelta,
                     name: str | None = None, **kwargs) -> object:
    """Every `every`; a late or overlapping run is folded into one (coalesce, one instance at a time)."""
    return scheduler.add_job(fn, "interval", seconds=every.total_seconds(), id=job_id, name=name or job_id,
                             coalesce=True, max_instances=1, replace_existing=True,
                             misfire_grace_time=max(1, int(every.total_seconds())), **kwargs)


def add_cron_job(scheduler: BackgroundScheduler, fn: Callable, *, job_id: str, day_of_week: str | None = None,
                 hour: int | str | None = None, minute: int | str | None = None, name: str | None = None,
                 misfire_grace_time: int = 3600, **kwargs) -> object:
    """Wall-clock jobs in the site timezone (e.g. the weekly report, Monday 08:00), same safety options."""
    return scheduler.add_job(fn, "cron", day_of_week=day_of_week, hour=hour, minute=minute, id=job_id,
                             name=name or job_id, coalesce=True, max_instances=1, replace_existing=True,
                             misfire_grace_time=misfire_grace_time, **kwargs)
