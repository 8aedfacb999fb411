"""Rows classified in the file parser's process store exactly what the writer stores deciding them itself."""

from __future__ import annotations

import csv
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from bench.hotline_csv import write_hotline_csv
from ingest.file_chunks import csv_layout, spans
from ingest.file_parser import FileParser, ParseContext
from ops_center.core.config import resolve_path
from ops_center.core.model import Ahead, Decision
from ops_center.wiring.app import build_context
from rules.holder import RulesHolder

TABLES = {  # what a batch writes, in a stable order, every column
    "events": "SELECT * FROM events ORDER BY event_id",
    "incidents": "SELECT * FROM incidents ORDER BY incident_id",
    "incident_timeline": "SELECT * FROM incident_timeline ORDER BY entry_id",
}


UNREAD = ("公园里的健身器材坏了好久没人修", "楼上邻居家的狗每天晚上叫个不停", "孩子上学的学校食堂饭菜质量太差")


def rule_paths(config_path: Path, cfg) -> tuple[Path, ...]:
    return tuple(resolve_path(config_path, p) for p in cfg.rules.paths)


def export(path: Path, rows: int, cfg, end) -> None:
    """A 12345 export over every grid; every third request without its category and some with texts no keyword
    rule reads, so the text model is asked (in a batch) and decides or sends them to triage."""
    grids = [a.centroid for a in cfg.areas.items if a.level == "grid"]
    write_hotline_csv(path, rows, end=end, seed=20261206, span=timedelta(days=3), points=grids)
    with path.open(encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    category, text = table[0].index("诉求类别"), table[0].index("诉求内容")
    for n, row in enumerate(table[1:]):
        if n % 3 == 0:
            row[category] = ""
        if n % 5 == 0:
            row[text] = UNREAD[n % len(UNREAD)]
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\r\n").writerows(table)


def parsed_in_child(cfg, config_path: Path, path: Path, received) -> list:
    """(events, decisions made ahead) per chunk, from the real parser process loading the shipped rules."""
    layout = csv_layout(path, 1000)
    parser = FileParser(ParseContext(cfg, "hotline_drop", rule_paths(config_path, cfg)))
    parser.start()
    try:
        return [(p.events, ahead) for _, p, ahead in parser.chunks(path, layout.header, spans(layout.bounds, 0),
                                                                   lambda: received, path.name)]
    finally:
        parser.stop()


def store_chunks(cfg, config_path: Path, db: Path, now, chunks, *, ahead: bool) -> dict[str, list]:
    """Apply the chunks in one fresh store with a fixed clock, as the pipeline does; every stored row."""
    ctx = build_context(cfg, config_path, db_path=db, clock=lambda: now)
    writer = ctx.pipeline.writer
    try:
        ctx.store.write(writer.prepare)
        for events, made in chunks:
            decided = [(made.ruleset, d) if ahead and d is not None else None for d in made.decisions]
            ctx.store.write(lambda conn, events=events, decided=decided: writer.apply(conn, events, [], decided))
        return {table: ctx.store.query(sql) for table, sql in TABLES.items()}
    finally:
        ctx.store.close()


def test_decided_in_the_parser_process_stores_byte_identical_rows(cfg, config_path, tmp_path, fixed_now):
    path = tmp_path / "export.csv"
    export(path, 3000, cfg, fixed_now - timedelta(minutes=5))
    chunks = parsed_in_child(cfg, config_path, path, fixed_now)
    holder = RulesHolder(rule_paths(config_path, cfg), cfg)
    made = [d for _, ahead in chunks for d in ahead.decisions]
    assert {ahead.ruleset for _, ahead in chunks} == {holder.current.identity}  # the writer's set: taken
    assert len(made) == 3000 and None not in made  # no `for` rule reads a 12345 request
    assert {d.rule_id for ds in made for d in ds} >= {"model:shipped", "traffic.illegal_parking"}

    by_writer = store_chunks(cfg, config_path, tmp_path / "writer.duckdb", fixed_now, chunks, ahead=False)
    ahead = store_chunks(cfg, config_path, tmp_path / "ahead.duckdb", fixed_now, chunks, ahead=True)
    assert len(by_writer["events"]) == 3000 and len(by_writer["incidents"]) >= 2900
    for table in TABLES:
        assert ahead[table] == by_writer[table], table


@pytest.mark.parametrize("same_set", [True, False])
def test_the_writer_takes_decisions_made_ahead_only_from_its_own_rule_set(cfg, config_path, tmp_path, fixed_now,
                                                                          same_set):
    """A bogus decision tagged with the writer's set is stored (so the check below can fail); tagged with
    any other set (an adopt or a rule change since) it is ignored and the writer decides."""
    path = tmp_path / "export.csv"
    export(path, 20, cfg, fixed_now - timedelta(minutes=5))
    (events, made), = parsed_in_child(cfg, config_path, path, fixed_now)
    bogus = Decision("bogus.rule", "fire_safety", "bogus", "P1", "district", None, "不是规则的结论")
    identity = made.ruleset if same_set else (made.ruleset[0], "some-other-model")
    forged = [(Ahead(identity, [[bogus]] * len(events)), [])]
    stored = store_chunks(cfg, config_path, tmp_path / "x.duckdb", fixed_now, [(events, forged[0][0])], ahead=True)
    rule_ids = {row[16] for row in stored["incidents"]}  # incidents.rule_id
    assert (rule_ids == {"bogus.rule"}) is same_set
    assert ("bogus.rule" in rule_ids) is same_set


def test_the_parser_process_reloads_changed_rules_and_tags_its_decisions_with_them(cfg, config_path, tmp_path,
                                                                                   fixed_now):
    rules_dir = tmp_path / "rules"
    shutil.copytree(resolve_path(config_path, cfg.rules.paths[0]), rules_dir)
    local = cfg.model_copy(update={"rules": cfg.rules.model_copy(update={"paths": (str(rules_dir),)})})
    path = tmp_path / "export.csv"
    export(path, 4000, local, fixed_now - timedelta(minutes=5))
    layout = csv_layout(path, 1000)
    parser = FileParser(ParseContext(local, "hotline_drop", (rules_dir,)))
    writer_rules = RulesHolder((rules_dir,), local)
    before = writer_rules.current.identity
    parser.start()
    try:
        chunks = parser.chunks(path, layout.header, spans(layout.bounds, 0), lambda: fixed_now, path.name)
        _, _, first = next(chunks)
        target = sorted(rules_dir.glob("*.yaml"))[0]
        target.write_text(target.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
        rest = [ahead for _, _, ahead in chunks]  # the fourth chunk is parsed after the change
    finally:
        parser.stop()
    writer_rules.reload_if_changed()
    assert first.ruleset == before
    assert rest[-1].ruleset == writer_rules.current.identity != before
