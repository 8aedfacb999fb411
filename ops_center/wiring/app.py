"""Wiring: build the running parts from config, start them in order, stop them in reverse."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ops_center.core.clock import utc_now
from ops_center.core.config import Config, resolve_path
from ops_center.core.gc_tuning import settle_gc
from ops_center.core.ports import HealthRow, RulesPort
from ops_center.read.calendar_coverage import coverage_job, log_coverage
from ops_center.read.calendar_coverage import health_rows as calendar_health
from ops_center.read.hot_incidents import HotIncidents
from ops_center.service.bus import Bus
from ops_center.store.backup import BackupError, BackupResult, backup
from ops_center.store.retention import ArchiveResult, archive, refresh_views
from ops_center.web.context import AppContext, RunningSources

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from ingest.broker import EmbeddedBroker
from ops_center.core.devices import load_devices
from ops_center.core.sla import SlaPolicy
from ops_center.demo.synth import generate_history
from ops_center.demo.unit_player import UnitPlayer
from ops_center.read.weekly_report import subscription_reports_job, weekly_report_job
from ops_center.service.incidents import IncidentService
from ops_center.service.pipeline import Pipeline
from ops_center.service.work_orders import WorkOrderService
from ops_center.store.store import Store, StoreClosed
from ops_center.web.auth import seed_users
from rules.holder import RulesHolder
from rules.suppress import sync_configured

log = logging.getLogger(__name__)


def build_context(cfg: Config, config_path: Path, *, db_path: str | Path | None = None,
                  clock: Callable[[], datetime] = utc_now) -> AppContext:
    """Open the store and build the core services; nothing is started yet."""
    store = Store(db_path or resolve_path(config_path, cfg.store.path), memory_limit=cfg.store.memory_limit)
    refresh_views(store, resolve_path(config_path, cfg.store.retention.dir))  # the archive folder may have moved
    bus = Bus()
    registry = load_devices(resolve_path(config_path, cfg.devices.path), cfg)
    rules = RulesHolder([resolve_path(config_path, p) for p in cfg.rules.paths], cfg)
    policy = SlaPolicy(cfg)
    pipeline = Pipeline(store, bus, cfg, rules, policy, clock)
    service = IncidentService(store, bus, cfg, clock)
    work_orders = WorkOrderService(store, bus, cfg, clock, policy, incidents=service)
    seed_users(store, cfg, clock())
    sync_configured(store, cfg, clock())
    sources = RunningSources()
    # Subscribed now, before create_app subscribes the data version: a redraw that sees a new version finds the
    # changed ids already noted. Nothing is read until the wall asks.
    hot = HotIncidents(store, clock=clock).attach(bus)

    def health() -> list[HealthRow]:
        """Every source's health, plus a calendar row while next year's holidays are missing."""
        return [*sources.health(), *calendar_health(cfg, clock())]

    return AppContext(cfg=cfg, config_path=Path(config_path), store=store, service=service, bus=bus,
                      pipeline=pipeline, rules=rules, registry=registry, sources=sources,
                      health=health, clock=clock, hot_incidents=hot, work_orders=work_orders)


@dataclass
class Running:
    """Everything start() started, so stop() can end it in reverse order."""

    ctx: AppContext
    broker: EmbeddedBroker | None = None
    scheduler: BackgroundScheduler | None = None

    def stop(self) -> None:
        """Stop intake first, commit what is queued, then close the store: nothing accepted is lost."""
        sources = list(self.ctx.sources)
        last = [s for s in sources if getattr(s, "stop_last", False)]  # an optional marker: outbound publishes what drains
        for source in reversed(sources):
            if source not in last:
                _quietly(source.stop, f"source {source.source_id}")
        if self.scheduler is not None:
            _quietly(partial(self.scheduler.shutdown, wait=True), "scheduler")
        if self.ctx.pipeline is not None:
            _quietly(self.ctx.pipeline.stop, "pipeline")
        _quietly(self.ctx.bus.drain, "bus")
        for source in last:
            _quietly(source.stop, f"source {source.source_id}")
        if self.broker is not None:
            _quietly(self.broker.stop, "embedded broker")
        _quietly(self.ctx.bus.close, "bus")
        if self.ctx.hot_incidents is not None:
            _quietly(self.ctx.hot_incidents.close, "wall hot set")
        self.ctx.store.close()
        log.info("stopped cleanly")


def _quietly(fn: Callable[[], object], what: str) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - shutdown carries on to close the store
        log.exception("stopping %s failed", what)


def start(ctx: AppContext, *, mqtt_url: str | None = None, simulator: bool | None = None,
          scheduler: bool = True) -> Running:
    """Start pipeline, broker (demo), sources and scheduler; the web server is run.py's job."""
    from ingest.broker import start_embedded
    from ingest.outbound import Outbound
    from ingest.sources import build_sources
    from ingest.store_watch import StoreWatch
    from ops_center.wiring.scheduler import SWEEP_JOB_ID, build_scheduler

    pipeline, rules = ctx.pipeline, ctx.rules
    if pipeline is None or rules is None:
        raise ValueError("start() runs what build_context() built: this context has no pipeline or rules")
    running = Running(ctx)
    log_coverage(ctx.cfg, ctx.clock())
    simulate = ctx.cfg.simulator.enabled if simulator is None else simulator
    if simulate and ctx.cfg.simulator.history_days:
        seed_history(ctx)
    attach_federation(ctx, mqtt_url=mqtt_url)  # the outbox hook before the pipeline's first commit
    pipeline.start()
    if ctx.cfg.mqtt.embedded and mqtt_url is None:
        running.broker = start_embedded(ctx.cfg)
    ctx.sources.extend(build_sources(ctx.cfg, ctx.config_path, pipeline, ctx.registry, ctx.bus, ctx.clock,
                                     mqtt_url=mqtt_url, simulator=simulator))
    Outbound.attach(ctx, mqtt_url=mqtt_url)
    ctx.sources.append(StoreWatch(ctx.store, pipeline))  # a failing store shows in health and on the wall
    for source in ctx.sources:
        source.start()
    if scheduler:
        sched = running.scheduler = build_scheduler(ctx)
        if is_city(ctx.cfg):  # the districts own their incidents and sweep them; the city only mirrors
            sched.remove_job(SWEEP_JOB_ID)
        add_product_jobs(ctx, sched, rules)
        if simulate:
            add_unit_player(ctx, sched)
        sched.start()
    settle_gc()
    return running


def add_unit_player(ctx: AppContext, sched) -> None:
    """Demo only: the responsible units answer the officer's dispatches (ops_center/demo/unit_player.py)."""
    assert isinstance(ctx.work_orders, WorkOrderService), "build_context gives every center one"
    player = UnitPlayer(ctx.work_orders, ctx.cfg, ctx.clock, seed=ctx.cfg.simulator.seed)

    def play() -> None:
        try:
            player.round()
        except StoreClosed:
            log.debug("unit player skipped: the store is closed (shutting down)")
        except Exception:  # noqa: BLE001 - a failed round is logged; the next one tries again
            log.exception("unit player round failed")

    sched.add_job(play, "interval", seconds=20, id="unit_player", name="demo: the units answer (签收, 反馈, 延期)",
                  coalesce=True, max_instances=1, replace_existing=True)
def is_city(cfg: Config) -> bool:
    return cfg.federation is not None and cfg.federation.role == "city"


def attach_federation(ctx: AppContext, *, mqtt_url: str | None = None) -> None:
    """federation.role district: the outbox hook and its publisher; city: the consumer, district feeds, commands."""
    from ingest.fed_consumer import CommandsFeed, FedCommands, FedConsumer
    from ingest.fed_publisher import FedPublisher
    from ops_center.service.fed_apply import FederatedIncidents
    from ops_center.service.fed_commands import CityCommands
    from ops_center.service.outbox import Outbox

    fed = ctx.cfg.federation
    if fed is None:
        return
    store = ctx.store
    assert isinstance(store, Store), "federation runs on the real store (build_context)"
    if fed.role == "district":
        assert fed.district_code is not None, "config validation requires it"
        assert ctx.work_orders is not None, "build_context gives every center one"
        outbox = Outbox(store, fed.district_code, ctx.clock).install()
        ctx.sources.append(FedPublisher(ctx.cfg, outbox, ctx.service, ctx.work_orders, url=mqtt_url, clock=ctx.clock))
        return
    incidents = FederatedIncidents(store, tuple(d.code for d in fed.districts), ctx.clock)
    book = CityCommands(store, ctx.clock)
    consumer = FedConsumer(ctx.cfg, incidents, ctx.pipeline, ctx.bus, book, url=mqtt_url, clock=ctx.clock)
    ctx.sources.extend([consumer, *consumer.feeds, CommandsFeed(book, ctx.clock)])
    if isinstance(ctx.service, IncidentService):
        ctx.service.forward = FedCommands(ctx.cfg, book, ctx.clock)


def seed_history(ctx: AppContext) -> int:
    """Demo only: a first start on an empty store gets weeks of synthetic history to drill into."""
    if ctx.store.query("SELECT count(*) FROM incidents")[0][0]:
        return 0
    sim = ctx.cfg.simulator
    n = generate_history(ctx.store, ctx.cfg, days=sim.history_days, incidents_per_day=sim.history_per_day,
                         seed=sim.seed, end=ctx.clock())
    log.info("demo: wrote %d synthetic incidents over the past %d days", n, sim.history_days)
    return n


def add_product_jobs(ctx: AppContext, sched: BackgroundScheduler, rules: RulesPort) -> None:
    """The jobs beyond the SLA sweep: weekly report, rules hot reload, source health."""
    reports = ctx.cfg.reports
    hour, minute = (int(x) for x in reports.weekly_time.split(":"))
    sched.add_job(weekly_report_job, "cron", args=[ctx], day_of_week=reports.weekly_day, hour=hour,
                  minute=minute, id="weekly_report", coalesce=True, max_instances=1, misfire_grace_time=3600)
    if reports.subscriptions:  # each leader's or unit's own area, same time
        sched.add_job(subscription_reports_job, "cron", args=[ctx], day_of_week=reports.weekly_day, hour=hour,
                      minute=minute, id="weekly_report_subscriptions", coalesce=True, max_instances=1,
                      misfire_grace_time=3600)
    sched.add_job(rules.reload_if_changed, "interval", seconds=5, id="rules_reload",
                  coalesce=True, max_instances=1)
    sched.add_job(coverage_job, "cron", args=[ctx.cfg, ctx.clock], hour=9, minute=0, id="calendar_coverage",
                  coalesce=True, max_instances=1, misfire_grace_time=3600)
    retention = ctx.cfg.store.retention
    if retention.after is not None:
        at_hour, at_minute = (int(x) for x in retention.at.split(":"))
        sched.add_job(archive_running_store, "cron", args=[ctx], hour=at_hour, minute=at_minute, id="store_archive",
                      coalesce=True, max_instances=1, misfire_grace_time=3600)
    every = ctx.cfg.store.backup.every
    if every is not None:
        sched.add_job(backup_running_store, "interval", args=[ctx], seconds=every.total_seconds(), id="store_backup",
                      coalesce=True, max_instances=1, misfire_grace_time=int(every.total_seconds()))


def archive_running_store(ctx: AppContext) -> ArchiveResult | None:
    """Move finished incidents older than store.retention.after to Parquet (daily, or asked by `run.py archive`)."""
    settings = ctx.cfg.store.retention
    if settings.after is None:
        log.error("archive asked for, but store.retention.after is not set (retention is off)")
        return None
    try:
        return archive(ctx.store, resolve_path(ctx.config_path, settings.dir), ctx.clock(), settings.after,
                       settings.keep_replaced)
    except Exception:  # noqa: BLE001 - a failed run moved nothing (retention.py); the next one tries again
        log.exception("archive failed")
        return None


def backup_running_store(ctx: AppContext) -> BackupResult | None:
    """One online backup into store.backup.dir (scheduled, or asked by `run.py backup`); logged, never raised."""
    settings = ctx.cfg.store.backup
    cursor = ctx.store.cursor()
    try:
        return backup(cursor, resolve_path(ctx.config_path, settings.dir), ctx.clock(), settings.keep)
    except BackupError:
        log.exception("backup failed")
        return None
    finally:
        cursor.close()
