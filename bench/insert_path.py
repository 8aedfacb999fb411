"""insert_path: the store's batch insert (the pipeline's own bulk writer) vs row-by-row inserts of the same rows.

Rows are real event rows (synthetic history turned back into `Event`s, gathered into row tuples by
the pipeline's own `ops_center.service.batch_rows.BatchRows`, untimed). Figure: `BatchRows.flush` — the DataFrame
and `store.append` (`INSERT … BY NAME SELECT * FROM df`) the pipeline runs on the writer thread —
in batches of `store.batch_max_rows`. Baseline: the very same tuples with one
`execute(INSERT … VALUES (?, …))` per row (and `executemany`), one transaction, on a time budget.
Target: batch ≥ 100× row-by-row. The rate including the Event → tuple gathering is shown too.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

from bench.common import Result, fresh_db, load_cfg, pick_size, size_arg
from bench.events import stored_events


def _event_columns(batch_rows) -> list[str]:
    """The column order of `BatchRows.events` tuples."""
    return [name for name, _ in batch_rows._EVENT_SCHEMA]


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arg(parser, default=200_000, quick=3_000)
    parser.add_argument("--row-seconds", type=float, default=None, help="time budget of each row-by-row baseline")
    args = parser.parse_args(argv)
    n = pick_size(args, 200_000, 3_000)
    budget = args.row_seconds or (1.0 if args.quick else 8.0)

    from ops_center.service import batch_rows as batch
    from ops_center.service.batch_rows import BatchRows, key_hash
    from ops_center.service.open_index import OpenIndex
    from ops_center.store.store import Store, to_db

    cfg = load_cfg()
    events = stored_events(n)
    batch_rows = cfg.store.batch_max_rows
    t_total = time.perf_counter()

    # --- the store's batch path: the pipeline's BatchRows, rows gathered untimed, flush (frame + append) timed ---
    batches = []
    t0 = time.perf_counter()
    for lo in range(0, len(events), batch_rows):
        writes = BatchRows()
        for i, ev in enumerate(events[lo:lo + batch_rows]):
            writes.event(lo + i + 1, key_hash(ev.source_id, ev.natural_key), ev, None, None, None)
        batches.append(writes)
    gather_s = time.perf_counter() - t0
    with Store(fresh_db("insert_batch")) as store:
        index = OpenIndex(cfg.rules.correlation.window, cfg.rules.correlation.distance_m)
        t0 = time.perf_counter()
        for writes in batches:
            store.write(lambda conn, w=writes: w.flush(conn, index))
        batch_s = time.perf_counter() - t0
        assert store.query("SELECT count(*) FROM events")[0][0] == len(events)
    batch_rate = len(events) / batch_s
    end_to_end = len(events) / (batch_s + gather_s)

    # --- row-by-row: the same tuples, one execute per row / executemany, on a time budget ----------
    # the very same tuples (aware datetimes made naive UTC, as the batch path's Arrow cast does)
    rows = [tuple(to_db(v) if isinstance(v, datetime) else v for v in row)
            for w in batches for row in w.events][:20_000]
    columns = _event_columns(batch)
    sql = f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
    with Store(fresh_db("insert_rows")) as store:

        def one_by_one(conn) -> tuple[int, float]:
            t0, done = time.perf_counter(), 0
            for row in rows:
                conn.execute(sql, row)
                done += 1
                if time.perf_counter() - t0 > budget:
                    break
            return done, time.perf_counter() - t0

        def many(conn) -> tuple[int, float]:
            t0, done, step = time.perf_counter(), 0, 100
            while done < len(rows) and time.perf_counter() - t0 <= budget:
                conn.executemany(sql, rows[done:done + step])
                done += len(rows[done:done + step])
            return done, time.perf_counter() - t0

        single_n, single_s = store.write(one_by_one, timeout=None)
        store.write(lambda conn: conn.execute("DELETE FROM events"))
        many_n, many_s = store.write(many, timeout=None)
    single_rate, many_rate = single_n / single_s, many_n / many_s
    baseline = max(single_rate, many_rate)
    ratio = batch_rate / baseline
    return Result(
        bench="insert_path", measures="events rows/s through the store's batch path",
        figure=batch_rate, unit="rows/s", target="≥ 100× row-by-row", passed=ratio >= 100,
        baseline=baseline, baseline_label="best row-by-row (execute / executemany) rows/s", ratio=ratio,
        size=f"{len(events):,} event rows, batches of {batch_rows:,}", seconds=time.perf_counter() - t_total,
        details={"execute per row rows/s": single_rate, "executemany rows/s": many_rate,
                 "incl. Event → row gathering (BatchRows.event) rows/s": end_to_end,
                 "row-by-row rows measured": f"{single_n:,} / {many_n:,}"},
    ).show()


if __name__ == "__main__":
    main()
