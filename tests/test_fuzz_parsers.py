"""Property-based fuzzing of every parser (issue 11): no exception escapes, every reject names its reason.

Hypothesis drives random and mutated inputs through the MQTT sensor and grid payload parsers, the
GeoReport JSON and CSV loaders (as the drop folder calls them, chunked), rule files and config files.
An input may be accepted or rejected; it must never raise anything but the parser's own error type,
and a reject must carry a documented reason and a message.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.file_chunks import csv_layout, read_span, spans
from ingest.georeport import (
    INVALID_ENCODING,
    MALFORMED_CSV,
    UNSUPPORTED_FILE,
    load_csv_document,
    load_json_document,
    parse_records,
)
from ingest.payloads import REASONS, Invalid, parse_grid, parse_sensor
from ops_center.core.config import ConfigError, load_config
from ops_center.core.devices import load_devices
from ops_center.core.model import Event
from rules.engine import RuleSet
from rules.schema import RuleError

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
GRID = "510108016002002"
FILE_REASONS = {*REASONS, INVALID_ENCODING, MALFORMED_CSV, UNSUPPORTED_FILE}
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
times = st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.datetimes().map(lambda d: d.isoformat()),
                  st.sampled_from(["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59", "2026-11-24T10:00:00Z",
                                   "2026-11-24 10:00:00", "1900-01-01", "-1", "1e309"]))


@pytest.fixture(scope="module")
def registry(cfg, config_path):
    return load_devices(config_path.parent / cfg.devices.path, cfg)


def sensor_payloads() -> st.SearchStrategy[bytes]:
    fields = st.fixed_dictionaries({}, optional={"ts": times, "value": json_values, "metric": json_values,
                                                 "event": json_values, "battery": json_values,
                                                 "x": json_values})
    as_json = fields.map(lambda d: json.dumps(d, allow_nan=True).encode())
    return st.one_of(as_json, st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                     st.integers(1, 3000).map(lambda n: b'{"ts": 1795485600, "value": 1, "x": ' + b"[" * n
                                              + b"]" * n + b"}"))


def grid_payloads() -> st.SearchStrategy[bytes]:
    fields = st.fixed_dictionaries({}, optional={
        "report_id": json_values, "reporter": json_values, "text": json_values, "ts": times,
        "category": json_values, "lat": json_values, "lon": json_values, "photo_url": json_values})
    return st.one_of(fields.map(lambda d: json.dumps(d, ensure_ascii=False).encode()), st.binary(max_size=200))


def check_outcome(fn, *args) -> object:
    try:
        return fn(*args)
    except Invalid as exc:
        assert exc.reason in FILE_REASONS, exc.reason
        assert exc.detail, f"reject {exc.reason} without a message"
        return exc


@FUZZ
@given(topic_tail=st.sampled_from(["aqi/AQI-0001", "smoke/SMK-0001", "laser/X", "aqi/NOPE", "aqi/AQI-0001/x"]),
       raw=sensor_payloads())
def test_sensor_parser_never_raises_anything_but_a_reasoned_reject(cfg, registry, topic_tail, raw):
    out = check_outcome(parse_sensor, cfg, registry, "s", f"ops/sensor/{topic_tail}", raw, NOW)
    if isinstance(out, Event):
        import pickle

        pickle.dumps(out)  # what the receiver ships: an accepted event always pickles (issue 11.1)


@FUZZ
@given(grid=st.sampled_from([GRID, "510108999999999", ""]), raw=grid_payloads())
def test_grid_parser_never_raises_anything_but_a_reasoned_reject(cfg, registry, grid, raw):
    check_outcome(parse_grid, cfg, registry, "g", f"ops/grid/{grid}/report", raw, NOW)


def georeport_records() -> st.SearchStrategy[list]:
    record = st.fixed_dictionaries({}, optional={
        "service_request_id": json_values, "requested_datetime": times, "updated_datetime": times,
        "description": json_values, "service_name": json_values, "lat": json_values, "long": json_values,
        "address": json_values, "status": json_values})
    return st.lists(record | json_values, max_size=6)


@FUZZ
@given(body=st.one_of(georeport_records().map(lambda r: json.dumps(r, ensure_ascii=False).encode()),
                      st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_georeport_json_gives_events_or_reasoned_rejects(cfg, registry, body):
    records = check_outcome(load_json_document, body)
    if isinstance(records, Invalid):
        return
    parsed = parse_records(cfg, registry, "h", records, NOW, "fuzz.json")
    assert len(parsed.events) + len(parsed.rejects) == len(records)
    for reject, raw in parsed.rejects:
        assert reject.reason in FILE_REASONS and reject.detail and isinstance(raw, bytes)


csv_cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
csv_headers = st.lists(st.sampled_from(["工单编号", "受理时间", "诉求内容", "地址", "纬度", "经度", "x",
                                        "service_request_id", "requested_datetime", "description"]),
                       min_size=1, max_size=6)


@FUZZ
@given(header=csv_headers, rows=st.lists(st.lists(csv_cells, max_size=7), max_size=8),
       noise=st.binary(max_size=40), encoding=st.sampled_from(["utf-8", "gb18030", "utf-8-sig"]),
       chunk_rows=st.integers(1, 4))
def test_csv_files_read_in_chunks_give_events_or_reasoned_rejects(cfg, registry, tmp_path, header, rows, noise,
                                                                  encoding, chunk_rows):
    text = "\r\n".join(",".join(f'"{c}"' if "," in c else c for c in line) for line in [header, *rows])
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data + noise)
    layout = check_outcome(csv_layout, path, chunk_rows)
    if isinstance(layout, Invalid):
        return
    if isinstance(check_outcome(load_csv_document, layout.header), Invalid):
        return
    for start, end in spans(layout.bounds, 0):
        records = check_outcome(load_csv_document, read_span(path, layout.header, start, end))
        if isinstance(records, Invalid):
            continue
        parsed = parse_records(cfg, registry, "h", records, NOW, "fuzz.csv")
        for reject, _ in parsed.rejects:
            assert reject.reason in FILE_REASONS and reject.detail


RULE_KEYS = ["id", "domain", "category", "severity", "when", "title", "sla", "level", "department", "dedup"]


@FUZZ
@given(doc=st.one_of(
    st.lists(st.dictionaries(st.sampled_from(RULE_KEYS), json_values, max_size=6), max_size=3)
    .map(lambda rules: {"rules": rules}),
    json_values, st.text(max_size=200)))
def test_rule_files_load_or_fail_with_a_rule_error(cfg, tmp_path, doc):
    path = tmp_path / "fuzz_rules.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    try:
        RuleSet.load([path], cfg)
    except RuleError as exc:
        assert str(exc)


@pytest.fixture(scope="module")
def config_doc(config_path) -> dict:
    return yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))


@settings(FUZZ, max_examples=30)  # each example validates the whole shipped config (349 areas)
@given(section=st.sampled_from(["store", "mqtt", "ingest", "web", "simulator", "escalation", "reports"]),
       key=st.sampled_from(["path", "batch_max_rows", "max_future", "max_age", "file_chunk_rows", "port",
                            "max_payload_depth", "source_share", "receivers", "nope"]),
       value=json_values)
def test_config_files_load_or_fail_with_a_config_error(config_path, config_doc, tmp_path, section, key, value):
    doc = copy.deepcopy(config_doc)
    doc.setdefault(section, {})
    if isinstance(doc[section], dict):
        doc[section][key] = value
    for name in ("devices", "rules"):  # keep the relative paths pointing at the real files
        if name == "devices":
            doc["devices"]["path"] = str(Path(config_path).parent / doc["devices"]["path"])
        else:
            doc["rules"]["paths"] = [str(Path(config_path).parent / p) for p in doc["rules"]["paths"]]
    doc["dispatch_catalogue"] = str(Path(config_path).parent / doc["dispatch_catalogue"])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)) or "config.yaml" in str(exc)
