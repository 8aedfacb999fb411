"""Deterministic synthetic incident history, so screens, demos and benches have years of realistic data.

Everything is drawn with numpy from one seed and written in bulk (Arrow tables of ≥ 1,000 rows,
one transaction per chunk), so 10 M incidents take minutes, not hours. The same arguments always
give the same rows: the chunk plan depends only on (days, incidents_per_day), and every chunk
draws from its own `default_rng([seed, chunk])`.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from ops_center.core.config import Config, load_config
from ops_center.demo import synth_units
from ops_center.demo.synth_draw import draw_chunk, plan
from ops_center.demo.synth_tables import events_table, incidents_table, timeline_table
from ops_center.demo.synth_world import World
from ops_center.store.store import Store

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: pass an aware `end`")
    return (dt - _EPOCH) // timedelta(microseconds=1)


def generate_history(store, cfg: Config, *, days: int, incidents_per_day: int, seed: int, end: datetime,
                     chunk_rows: int = 1_000_000, timeline: bool = True, events: bool = True) -> int:
    """Write `days × incidents_per_day` past incidents (with events and timelines) ending at `end`; return the count."""
    if days <= 0 or incidents_per_day <= 0:
        return 0
    world = World(cfg, seed)
    end_us = _us(end)
    offset = world.policy.tz.utcoffset(end.replace(tzinfo=None))
    offset_h = offset.total_seconds() / 3600 if offset is not None else 0.0  # a ZoneInfo always has one
    counts, spans, storm_slot, bounds = plan(days, incidents_per_day, end_us, seed, offset_h, chunk_rows)
    written = 0
    for chunk_no, (lo, hi) in enumerate(bounds):
        n = int(counts[lo:hi].sum())
        if n == 0:
            continue
        rng = np.random.default_rng([seed, 1000 + chunk_no])
        slot = np.repeat(np.arange(lo, hi), counts[lo:hi])
        created = spans[0, slot] + (rng.random(n) * (spans[1, slot] - spans[0, slot])).astype(np.int64)
        created.sort()
        arrays = draw_chunk(world, rng, created, storm_slot[slot], end_us)
        _write(store, world, arrays, timeline=timeline, events=events)
        written += n
        log.info("synth: chunk %d/%d, %d incidents (total %d)", chunk_no + 1, len(bounds), n, written)
    return written


def _write(store, world: World, c: dict, *, timeline: bool, events: bool) -> None:
    """Reserve ids, build the Arrow tables, append them in one transaction."""
    n, m = c["n"], len(c["ev_inc"])
    ids: dict[str, int] = {}

    unit_counts = synth_units.counts(c["units"], c["satisfied"], c["fail_at"]) if timeline else {}

    def alloc(conn) -> None:
        ids["inc"] = store.allocate_ids(conn, "incidents", n)
        ids["ev"] = store.allocate_ids(conn, "events", m) if events else 0
        for table, count in unit_counts.items():
            ids[table] = store.allocate_ids(conn, table, count)

    store.write(alloc)
    tables = [("incidents", incidents_table(world, c, ids["inc"]))]
    if timeline:
        tables.append(("incident_timeline", timeline_table(world, c, ids["inc"])))
        tables.append(("incident_timeline", synth_units.timeline(world.cast, c["units"], ids["inc"], world.officers,
                                                                 c["officer"])))
        made = synth_units.tables(world.cast, c["units"], c, ids["inc"], ids, world.officers, c["unit_rng"],
                                  c["end_us"])
        tables.extend(made.items())
    if events:
        tables.append(("events", events_table(world, c, ids["inc"], ids["ev"])))

    def insert(conn) -> None:
        for table, data in tables:
            conn.register("synth_chunk", data)
            try:
                conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM synth_chunk")  # noqa: S608 - fixed names
            finally:
                conn.unregister("synth_chunk")

    store.write(insert, timeout=None)


def main(argv: list[str] | None = None) -> int:
    """`python3 -m ops_center.demo.synth --db PATH --days N --per-day M`: fill a store with history."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--db", required=True)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--per-day", type=int, default=400)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--end", default=None, help="ISO time the history ends (default: now)")
    parser.add_argument("--no-timeline", action="store_true")
    parser.add_argument("--no-events", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = load_config(args.config)
    end = datetime.fromisoformat(args.end) if args.end else datetime.now(UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    with Store(Path(args.db)) as store:
        n = generate_history(store, cfg, days=args.days, incidents_per_day=args.per_day, seed=args.seed, end=end,
                             timeline=not args.no_timeline, events=not args.no_events)
    log.info("wrote %d incidents to %s", n, args.db)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
