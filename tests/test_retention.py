"""Retention: finished incidents move to monthly Parquet files, the reports give the same numbers, nothing is lost."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from apscheduler.schedulers.background import BackgroundScheduler

from ops_center.core.config import RetentionConfig
from ops_center.core.domains import OPEN_STATUSES
from ops_center.demo.synth import generate_history
from ops_center.read import kpis, queries
from ops_center.read import weekly_report as wr
from ops_center.store import retention
from ops_center.store.archive_files import read_last_run
from ops_center.store.retention import ARCHIVED_STATUSES, TABLES, ArchiveError
from ops_center.store.store import Store, to_db
from ops_center.wiring.app import add_product_jobs, archive_running_store, build_context
from ops_center.wiring.backup_cli import pid_path
from tests.fixtures_ingest import wait_until
from tests.test_ingest_noloss import start_ingest, subscriptions, tail, write_config

ROOT = Path(__file__).resolve().parent.parent
END = datetime(2026, 6, 1, tzinfo=UTC)  # the synthetic history runs Feb 21 .. Jun 1
AFTER = timedelta(days=30)
WEEKS = ("2026-W10", "2026-W19")  # early March (archived), early May (partly archived)
MADE_AT = datetime(2026, 6, 1, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def template(tmp_path_factory, cfg) -> Path:
    """One store with 100 days of synthetic history (timelines and events), built once and copied per test."""
    path = tmp_path_factory.mktemp("retention") / "ops.duckdb"
    store = Store(path)
    generate_history(store, cfg, days=100, incidents_per_day=60, seed=7, end=END)
    store.close()
    return path


@pytest.fixture
def store(template, tmp_path) -> Store:
    shutil.copyfile(template, tmp_path / "ops.duckdb")
    s = Store(tmp_path / "ops.duckdb")
    yield s
    s.close()


@pytest.fixture
def archive_dir(tmp_path) -> Path:
    return tmp_path / "archive"


def counts(store: Store, suffix: str = "") -> dict[str, int]:
    return {t: store.query(f"SELECT count(*) FROM {t}{suffix}")[0][0] for t in TABLES}  # noqa: S608 - fixed names


def due(store: Store, now: datetime = END) -> int:
    return store.query("SELECT count(*) FROM incidents WHERE list_contains(?::VARCHAR[], status) AND updated_at < ?",
                       [list(ARCHIVED_STATUSES), to_db(now - AFTER)])[0][0]


def parquet_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.parquet*")) if directory.exists() else []


def report_outputs(store: Store, cfg) -> dict[str, object]:
    """Everything the reports and drill-down show for archived periods, as files and frames."""
    out: dict[str, object] = {}
    for week in WEEKS:
        report = wr.build_weekly_report(store, cfg, week)
        out[f"{week}.xlsx"] = wr.xlsx_bytes(report, cfg, MADE_AT)
        out[f"{week}.csv"] = wr.csv_text(report, cfg)
        for name, frame in report.sheets().items():
            out[f"{week}/{name}"] = frame
    start, end = datetime(2026, 2, 20, tzinfo=UTC), END
    areas, summary, domains = kpis.kpi_drill(store, start, end, group_by="street", parent="510108")
    out |= {"drill.areas": areas, "drill.summary": summary, "drill.domains": domains}
    out["grid.incidents"] = queries.area_incidents(store, "510108002", start, end, limit=10_000)
    return out


def live_outputs(store: Store, cfg) -> dict[str, object]:
    """What the console and the wall read: open incidents, the queue, today's KPIs and the 7-day trend."""
    return {
        "open": store.query_df("SELECT * FROM incidents WHERE list_contains(?::VARCHAR[], status) ORDER BY incident_id",
                               [list(OPEN_STATUSES)]),
        "queue": queries.console_page(store, queries.QueueFilters(), None, page_size=1000),
        "today": kpis.kpi_summary(store, END - timedelta(hours=8), END, as_of=END),
        "trend": kpis.daily_created(store, END, cfg.site.timezone),
    }


def in_us(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps at one resolution: with archived files the views' timestamps are µs (Parquet has no seconds)."""
    return frame.apply(lambda c: c.dt.as_unit("us") if pd.api.types.is_datetime64_any_dtype(c) else c)


def assert_same(before: dict[str, object], after: dict[str, object]) -> None:
    """The report files (xlsx, csv) byte for byte; the frames behind them to 1e-12 relative: a mean's sum is added
    in another order when its rows come from two relations, and every screen and file rounds it to 0.1."""
    assert before.keys() == after.keys()
    for key, value in before.items():
        other = after[key]
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(in_us(value), in_us(other), obj=key, check_exact=False,  # type: ignore[arg-type]
                                          rtol=1e-12)
        elif isinstance(value, tuple) and value and isinstance(value[0], pd.DataFrame):
            pd.testing.assert_frame_equal(in_us(value[0]), in_us(other[0]), obj=key)  # type: ignore[index]
            assert value[1:] == other[1:], key  # type: ignore[index]
        elif isinstance(value, dict):
            assert value == pytest.approx(other, rel=1e-12, nan_ok=True), key
        else:
            assert value == other, key


def test_reports_of_archived_weeks_are_identical_and_live_screens_unaffected(store, cfg, archive_dir):
    before, live_before = report_outputs(store, cfg), live_outputs(store, cfg)
    totals, moving = counts(store), due(store)
    assert moving > 3000  # most of Feb..Apr is finished and old enough

    result = retention.archive(store, archive_dir, END, AFTER)

    assert result.rows["incidents"] == moving and result.skipped == ()
    assert result.months == ("2026-02", "2026-03", "2026-04", "2026-05")
    assert due(store) == 0
    assert counts(store, "_all") == totals  # every row is somewhere, once
    assert {t: counts(store)[t] + result.rows[t] for t in TABLES} == totals
    assert len(parquet_files(archive_dir)) == 3 * len(result.months)
    assert_same(before, report_outputs(store, cfg))
    assert_same(live_before, live_outputs(store, cfg))


def test_an_archived_incident_still_opens_with_its_timeline_and_reports(store, archive_dir):
    incident_id = store.query(
        "SELECT min(i.incident_id) FROM incidents i JOIN events e USING (incident_id) WHERE i.status = 'closed' "
        "AND i.updated_at < ?", [to_db(END - AFTER)])[0][0]
    before = queries.incident_detail(store, incident_id)
    retention.archive(store, archive_dir, END, AFTER)
    assert store.query("SELECT count(*) FROM incidents WHERE incident_id = ?", [incident_id])[0][0] == 0
    after = queries.incident_detail(store, incident_id)
    assert before is not None and after is not None and not before.reports.empty
    assert after.incident == before.incident
    pd.testing.assert_frame_equal(in_us(after.timeline.sort_values(["ts", "action"], ignore_index=True)),
                                  in_us(before.timeline.sort_values(["ts", "action"], ignore_index=True)))
    pd.testing.assert_frame_equal(in_us(after.reports), in_us(before.reports))
    assert queries.incident_detail(store, 10**9) is None


def test_a_rerun_moves_nothing_twice_and_a_later_run_rewrites_one_set_per_month(store, cfg, archive_dir):
    totals = counts(store)
    retention.archive(store, archive_dir, END, AFTER)
    files = parquet_files(archive_dir)
    again = retention.archive(store, archive_dir, END, AFTER)
    assert again.months == () and sum(again.rows.values()) == 0
    assert parquet_files(archive_dir) == files

    later = END + timedelta(days=12)  # May's incidents finished by May 13 are now due too
    before = report_outputs(store, cfg)
    more = retention.archive(store, archive_dir, later, AFTER)
    assert "2026-05" in more.months and more.rows["incidents"] > 0
    assert counts(store, "_all") == totals
    names = parquet_files(archive_dir)
    assert len(names) == 3 * 4 and not set(names) & {f for f in files if "2026-05" in f}
    month = retention.manifest(store)["2026-05"]
    assert month.rows["incidents"] == store.query(
        f"SELECT count(*) FROM read_parquet('{archive_dir / month.files['incidents']}')")[0][0]  # noqa: S608
    assert_same(before, report_outputs(store, cfg))


def test_a_failure_between_export_and_delete_loses_and_duplicates_nothing(store, cfg, archive_dir, monkeypatch):
    totals, before = counts(store), report_outputs(store, cfg)

    def fail(*_args, **_kwargs):
        raise OSError("disk went away after the export")

    monkeypatch.setattr(retention, "swap_in", fail)
    with pytest.raises(OSError, match="disk went away"):
        retention.archive(store, archive_dir, END, AFTER)
    assert counts(store) == totals and counts(store, "_all") == totals
    assert retention.manifest(store) == {} and parquet_files(archive_dir) == []
    assert_same(before, report_outputs(store, cfg))

    monkeypatch.undo()
    result = retention.archive(store, archive_dir, END, AFTER)
    assert result.rows["incidents"] > 0 and counts(store, "_all") == totals


KILLED_RUN = """
import os, sys
from datetime import timedelta
from pathlib import Path
from ops_center.store import retention
from ops_center.store.store import Store
from tests.test_retention import AFTER, END

store = Store(sys.argv[1])
def killed(*_args, **_kwargs):
    os._exit(9)  # the process dies with the files written and nothing deleted
retention.swap_in = killed
retention.archive(store, Path(sys.argv[2]), END, AFTER)
"""


def test_a_process_killed_between_export_and_delete_loses_and_duplicates_nothing(template, tmp_path, cfg):
    db, archive_dir = tmp_path / "ops.duckdb", tmp_path / "archive"
    shutil.copyfile(template, db)
    with Store(db) as store:
        totals, before = counts(store), report_outputs(store, cfg)
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_RUN), str(db), str(archive_dir)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 9, run.stderr[-2000:]
    orphans = parquet_files(archive_dir)
    assert any(name.startswith("incidents-") for name in orphans)  # the export did happen

    with Store(db) as store:
        assert counts(store) == totals and counts(store, "_all") == totals  # not lost, not counted twice
        assert_same(before, report_outputs(store, cfg))
        result = retention.archive(store, archive_dir, END, AFTER)
        assert result.orphans_removed == len(orphans)
        assert counts(store, "_all") == totals
        assert len(parquet_files(archive_dir)) == 3 * len(result.months)
        assert_same(before, report_outputs(store, cfg))


KILLED_AFTER_COMMIT = """
import os, sys
from datetime import timedelta
from pathlib import Path
from ops_center.store import retention
from ops_center.store.store import Store
from tests.test_retention import AFTER, END

store = Store(sys.argv[1])
def killed(*_args, **_kwargs):
    os._exit(9)  # the new sets are committed; the replaced ones are still in the folder
retention.set_aside = killed
retention.archive(store, Path(sys.argv[2]), END + timedelta(days=12), AFTER)
"""


def test_a_process_killed_after_the_commit_leaves_the_replaced_set_unread_then_set_aside(template, tmp_path, cfg):
    db, archive_dir = tmp_path / "ops.duckdb", tmp_path / "archive"
    shutil.copyfile(template, db)
    with Store(db) as store:
        totals, before = counts(store), report_outputs(store, cfg)
        first = retention.manifest(store) if retention.archive(store, archive_dir, END, AFTER) else {}
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_AFTER_COMMIT), str(db), str(archive_dir)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 9, run.stderr[-2000:]
    with Store(db) as store:
        second = retention.manifest(store)
        replaced = {name for month, entry in first.items() for name in entry.files.values()
                    if second[month].files != entry.files}
        assert replaced and replaced <= set(parquet_files(archive_dir))  # still there, named by no month
        assert counts(store, "_all") == totals
        assert_same(before, report_outputs(store, cfg))
        again = retention.archive(store, archive_dir, END + timedelta(days=12), AFTER)
        done = {month for month, entry in first.items() if second[month].files != entry.files}
        assert again.orphans_removed == len(replaced) and not done & set(again.months)  # the rest is finished now
        assert not replaced & set(parquet_files(archive_dir))
        assert replaced <= {p.name for p in (archive_dir / retention.REPLACED).iterdir()}
        assert counts(store, "_all") == totals


def test_an_incident_reopened_during_the_export_keeps_its_month_live(store, archive_dir, monkeypatch):
    totals = counts(store)
    export = retention.export_month
    victim = store.query("SELECT min(incident_id) FROM incidents WHERE status = 'closed' AND updated_at < ? "
                         "AND strftime(created_at, '%Y-%m') = '2026-03'", [to_db(END - AFTER)])[0][0]

    def export_then_reopen(st, directory, ids, before, names):
        written = export(st, directory, ids, before, names)
        if ids["incident_id"].isin([victim]).any():
            st.write(lambda c: c.execute("UPDATE incidents SET status = 'dispatched', version = version + 1 "
                                         "WHERE incident_id = ?", [victim]))
        return written

    monkeypatch.setattr(retention, "export_month", export_then_reopen)
    result = retention.archive(store, archive_dir, END, AFTER)
    assert result.skipped == ("2026-03",) and "2026-03" not in result.months
    assert "2026-03" not in retention.manifest(store)
    assert not [n for n in parquet_files(archive_dir) if "2026-03" in n]
    assert counts(store, "_all") == totals
    assert store.query("SELECT status FROM incidents WHERE incident_id = ?", [victim]) == [("dispatched",)]


def test_an_archived_month_is_put_back_whole(store, cfg, archive_dir):
    totals, before = counts(store), report_outputs(store, cfg)
    retention.archive(store, archive_dir, END, AFTER)
    in_db = counts(store)
    rows = retention.unarchive(store, archive_dir, "2026-03", END)
    assert {t: counts(store)[t] - in_db[t] for t in TABLES} == rows
    assert "2026-03" not in retention.manifest(store)
    assert not [n for n in parquet_files(archive_dir) if "2026-03" in n]
    assert counts(store, "_all") == totals
    assert_same(before, report_outputs(store, cfg))
    with pytest.raises(ArchiveError, match="month 2026-03 is not archived"):
        retention.unarchive(store, archive_dir, "2026-03", END)


def test_a_moved_archive_folder_is_found_again_and_a_missing_file_is_reported(store, cfg, archive_dir, tmp_path,
                                                                             caplog):
    totals = counts(store)
    retention.archive(store, archive_dir, END, AFTER)
    moved = tmp_path / "elsewhere"
    shutil.move(archive_dir, moved)
    assert retention.refresh_views(store, moved) == []
    assert counts(store, "_all") == totals

    month = retention.manifest(store)["2026-04"]
    (moved / month.files["incidents"]).unlink()
    missing = retention.refresh_views(store, moved)
    assert missing == [moved / month.files["incidents"]]
    assert "left out of the reports" in caplog.text
    assert counts(store, "_all")["incidents"] == totals["incidents"] - month.rows["incidents"]


def test_a_restored_backup_older_than_a_run_gets_its_files_back(template, tmp_path, cfg):
    db, archive_dir, saved = tmp_path / "ops.duckdb", tmp_path / "archive", tmp_path / "backup.duckdb"
    shutil.copyfile(template, db)
    with Store(db) as store:
        totals, before = counts(store), report_outputs(store, cfg)
        retention.archive(store, archive_dir, END, AFTER)
        may = retention.manifest(store)["2026-05"].files
    shutil.copyfile(db, saved)  # the nightly backup (a closed store is one checkpointed file)
    with Store(db) as store:
        rewritten = retention.archive(store, archive_dir, END + timedelta(days=12), AFTER).months  # May's set too
    assert not (archive_dir / may["incidents"]).exists()
    assert (archive_dir / retention.REPLACED / may["incidents"]).is_file()

    shutil.copyfile(saved, db)  # restore the backup taken before the second run
    with Store(db) as store:
        assert retention.refresh_views(store, archive_dir) == []  # what build_context does at start
        assert (archive_dir / may["incidents"]).is_file()
        assert counts(store, "_all") == totals
        assert_same(before, report_outputs(store, cfg))
        again = retention.archive(store, archive_dir, END + timedelta(days=12), AFTER)
        assert again.orphans_removed == 3 * len(rewritten)  # the newer sets: their new rows came back with it
        assert counts(store, "_all") == totals
        assert_same(before, report_outputs(store, cfg))
        # Replaced sets are kept `keep_replaced`, then pruned by a later run.
        later = END + timedelta(days=60)
        retention.archive(store, archive_dir, later, AFTER, keep_replaced=timedelta(days=30))
    kept = list((archive_dir / retention.REPLACED).iterdir())
    assert not (archive_dir / retention.REPLACED / may["incidents"]).exists()  # set aside at day 12: pruned
    assert all(p.stat().st_mtime == later.timestamp() for p in kept)  # only what this run replaced


def test_a_non_positive_age_is_refused(store, archive_dir):
    with pytest.raises(ArchiveError, match="must be positive"):
        retention.archive(store, archive_dir, END, timedelta(0))


def retention_config(config_path: Path, tmp_path: Path, after: str | None) -> Path:
    """The demo config for a run.py subprocess, with store.retention set (or left off)."""
    config = write_config(config_path, tmp_path)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["store"]["retention"] = {"dir": str(tmp_path / "archive"), **({"after": after} if after else {})}
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return config


def run_py(config: Path, db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "--config", str(config), "--db", str(db), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_run_py_archive_with_the_center_stopped_and_restore_a_month(template, config_path, tmp_path):
    db = tmp_path / "ops.duckdb"
    shutil.copyfile(template, db)
    with Store(db) as store:
        totals = counts(store)
    off = retention_config(config_path, tmp_path, None)
    refused = run_py(off, db, "archive")
    assert refused.returncode == 1 and "store.retention.after is not set" in refused.stderr
    too_short = run_py(off, db, "archive", "--after", "7d")
    assert too_short.returncode == 1 and "shorter than store.dedup_horizon" in too_short.stderr

    done = run_py(off, db, "archive", "--after", "30d")  # the live clock is months past the history
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"archived to {tmp_path / 'archive'}") and "2026-03" in done.stdout
    put = run_py(off, db, "archive", "--restore", "2026-03")
    assert put.returncode == 0 and "month 2026-03 put back" in put.stdout, put.stderr
    with Store(db) as store:
        assert "2026-03" not in retention.manifest(store) and "2026-04" in retention.manifest(store)
        assert counts(store, "_all") == totals


def finished_rows(store: Store, suffix: str) -> tuple[int, int]:
    """Finished incidents and their timeline rows (`suffix` "_all": archived ones included)."""
    return store.query(
        f"SELECT count(DISTINCT i.incident_id), count(t.incident_id) FROM incidents{suffix} i "  # noqa: S608 - fixed
        f"LEFT JOIN incident_timeline{suffix} t USING (incident_id) WHERE list_contains(?::VARCHAR[], i.status)",
        [list(ARCHIVED_STATUSES)])[0]


@pytest.mark.mqtt
def test_run_py_archive_asks_the_running_center(private_mosquitto, template, config_path, tmp_path):
    db, log = tmp_path / "ops.duckdb", tmp_path / "center.log"
    shutil.copyfile(template, db)
    with Store(db) as store:
        totals, finished, finished_timeline = counts(store), *finished_rows(store, "")
    config = retention_config(config_path, tmp_path, "30d")
    proc = start_ingest(config, db, private_mosquitto.url, log)
    try:
        wait_until(lambda: (subscriptions(log) == 1 and pid_path(db).exists()) or proc.poll() is not None, 60,
                   "center up")
        assert proc.poll() is None, tail(log)
        done = run_py(config, db, "archive", "--timeout", "120")
        assert done.returncode == 0, done.stderr + tail(log)
        assert f"{finished:,} incidents" in done.stdout
        refused = run_py(config, db, "archive", "--restore", "2026-03")
        assert refused.returncode == 1 and "in use" in refused.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    with Store(db) as store:
        after = counts(store, "_all")  # the live clock's SLA sweep added timeline rows to open incidents meanwhile
        assert (after["incidents"], after["events"]) == (totals["incidents"], totals["events"])
        assert finished_rows(store, "_all") == (finished, finished_timeline)
        assert set(retention.manifest(store)) == {"2026-02", "2026-03", "2026-04", "2026-05"}


def test_the_daily_job_is_scheduled_only_when_retention_is_on_and_runs_the_archive(template, tmp_path, cfg,
                                                                                 config_path):
    db = tmp_path / "ops.duckdb"
    shutil.copyfile(template, db)
    on = cfg.model_copy(update={"store": cfg.store.model_copy(update={"retention": RetentionConfig(
        after=AFTER, dir=str(tmp_path / "archive"), at="02:45")})})
    ctx = build_context(on, config_path, db_path=db, clock=lambda: END)
    try:
        scheduler = BackgroundScheduler(timezone=cfg.site.timezone)
        add_product_jobs(ctx, scheduler, ctx.rules)
        job = scheduler.get_job("store_archive")
        assert job is not None and str(job.trigger) == "cron[hour='2', minute='45']"
        off = BackgroundScheduler(timezone=cfg.site.timezone)
        add_product_jobs(replace(ctx, cfg=cfg), off, ctx.rules)
        assert off.get_job("store_archive") is None and cfg.store.retention.after is None
        result = archive_running_store(ctx)
        assert result is not None and result.rows["incidents"] > 0 and due(ctx.store) == 0
        assert read_last_run(tmp_path / "archive")["rows"] == result.rows
    finally:
        ctx.store.close()
