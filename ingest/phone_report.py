"""A grid worker's report from the phone screen, turned into the MQTT grid payload and parsed by the same parser."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from ingest.health import Pending
from ingest.payloads import Invalid, parse_grid
from ops_center.core.config import Config
from ops_center.core.ports import Intake

log = logging.getLogger(__name__)
COMMIT_TIMEOUT_S = 10
GRID_SOURCE_KIND = "mqtt_grid"
MAX_TEXT_CHARS = 1000  # what a person types on a phone; the parser keeps at most MAX_TEXT


class ReportRefused(ValueError):
    """A phone report not filed; `user_message` tells the worker what to change (their text is kept on screen)."""

    def __init__(self, user_message: str):
        super().__init__(user_message)
        self.user_message = user_message


@dataclass(frozen=True)
class PhoneReport:
    """What the worker filled in; `report_id` is made once per form, so a double tap files one report."""

    report_id: str
    reporter: str
    grid_code: str
    text: str
    category: str | None = None
    lat: float | None = None
    lon: float | None = None
    photos: tuple[str, ...] = ()


def new_report_id(username: str, now: datetime) -> str:
    return f"PH-{username[:24]}-{now:%Y%m%d}-{uuid.uuid4().hex[:12]}"


def grid_source_id(cfg: Config) -> str:
    """The configured grid-report source the phone files under (its health and dead letters count them too)."""
    source = next((s for s in cfg.sources if s.kind == GRID_SOURCE_KIND), None)
    if source is None:
        raise ReportRefused("系统未配置网格员上报数据源，请联系管理员")
    return source.id


def payload(report: PhoneReport, now: datetime) -> dict:
    """The MQTT grid report body (SPEC §4) for this report."""
    body: dict = {"report_id": report.report_id, "reporter": report.reporter, "text": report.text,
                  "ts": now.isoformat()}
    if report.category:
        body["category"] = report.category
    if report.lat is not None and report.lon is not None:
        body["lat"], body["lon"] = round(float(report.lat), 6), round(float(report.lon), 6)
    if report.photos:
        body["photos"] = list(report.photos)
    return body


def check(report: PhoneReport, scopes: Sequence[str]) -> None:
    """What the form must hold before anything is filed: text, a grid inside the worker's own scope."""
    if not report.text.strip():
        raise ReportRefused("请填写情况描述")
    if len(report.text) > MAX_TEXT_CHARS:
        raise ReportRefused(f"情况描述最多 {MAX_TEXT_CHARS} 字，当前 {len(report.text)} 字")
    if not report.grid_code or not any(s and report.grid_code.startswith(s) for s in scopes):
        raise ReportRefused("只能上报本人负责网格内的情况，请选择网格")


def submit(cfg: Config, registry, pipeline: Intake, report: PhoneReport, scopes: Sequence[str],
           now: datetime) -> str:
    """Parse the report exactly as an MQTT grid report and wait for its commit; returns the report id.

    A payload the parser refuses is a dead letter (as on MQTT) and a ReportRefused for the worker."""
    check(report, scopes)
    source_id = grid_source_id(cfg)
    topic = f"{cfg.mqtt.topic_prefix.strip('/')}/grid/{report.grid_code}/report"
    raw = orjson.dumps(payload(report, now))
    try:
        event = parse_grid(cfg, registry, source_id, topic, raw, now)
    except Invalid as exc:
        pipeline.dead_letter(source_id, topic, exc.reason, raw, f"phone: {exc.detail}")
        raise ReportRefused(f"上报内容有误（{exc.reason}）：{exc.detail}") from None
    pending = Pending()
    pipeline.submit(event, on_committed=pending.add())
    if not pending.wait(COMMIT_TIMEOUT_S):
        log.warning("phone report %s not committed within %ss", report.report_id, COMMIT_TIMEOUT_S)
        raise ReportRefused("系统繁忙，上报尚未保存，请稍后再点一次“提交”（不会重复上报）")
    log.info("phone report %s by %s in %s", report.report_id, report.reporter, report.grid_code)
    return report.report_id
