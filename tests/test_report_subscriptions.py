"""Subscribed weekly reports: each leader's or unit's own area written on schedule and announced on MQTT out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import orjson

from ingest.outbound import Outbound
from ops_center.core.config import ReportsConfig, ReportSubscription
from ops_center.read import kpis
from ops_center.read import weekly_report as wr
from ops_center.service.bus import Bus
from tests.fixtures_ingest import Subscriber, isolated_cfg, wait_until
from tests.test_weekly_report import END, START, WEEK, seed_week


@dataclass
class JobCtx:
    cfg: object
    store: object
    clock: object
    bus: object


def test_each_subscription_gets_its_own_area_and_is_announced_on_mqtt(store, cfg, tmp_path, mosquitto):
    seed_week(store, cfg)
    subs = (ReportSubscription(id="mzw-leader", name="猛追湾街道党工委", area="510108002"),
            ReportSubscription(id="district-csv", name="区城运中心", area="510108", format="csv", publish=False))
    job_cfg = isolated_cfg(cfg, mosquitto.url).model_copy(
        update={"reports": ReportsConfig(folder=str(tmp_path / "reports"), subscriptions=subs)})
    bus = Bus()
    out = Outbound(job_cfg, bus, mqtt5=False)
    prefix = job_cfg.mqtt.topic_prefix
    listener = Subscriber(mosquitto.host, mosquitto.port, f"{prefix}/out/report/#", "report-listener")
    out.start()
    try:
        assert out.wait_connected(20)
        monday_8am = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
        paths = wr.subscription_reports_job(JobCtx(job_cfg, store, lambda: monday_8am, bus))
        folder = tmp_path / "reports" / "subscriptions"
        assert paths == [folder / f"weekly-{WEEK}-mzw-leader.xlsx", folder / f"weekly-{WEEK}-district-csv.csv"]
        book = openpyxl.load_workbook(paths[0])
        assert "猛追湾街道" in book["概览"]["A1"].value
        rows = list(book["事件明细"].iter_rows(values_only=True))[wr.TITLE_ROWS + 1:]
        assert rows and {r[8][:9] for r in rows} == {"510108002"}  # 区域编码: only the subscriber's street
        wait_until(lambda: f"{prefix}/out/report/mzw-leader" in listener.latest, what="report announced")
        note = orjson.loads(listener.latest[f"{prefix}/out/report/mzw-leader"])
        street = kpis.kpi_summary(store, START, END, area="510108002")
        assert (note["week"], note["area"], note["created"]) == (WEEK, "510108002", street["created"])
        assert Path(note["path"]) == paths[0]
        assert f"{prefix}/out/report/district-csv" not in listener.latest  # publish: false
    finally:
        listener.close()
        out.stop()
        bus.close()
