"""ops-center command line: parses arguments and hands over to ops_center.wiring.app. `python3 run.py --help` lists every subcommand."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from ops_center.core.config import ConfigError, load_config

log = logging.getLogger("ops_center")
ROOT = Path(__file__).resolve().parent


SUBCOMMAND_OPTIONS = ("--config", "--db", "--log-level", "--mqtt-url", "--mode")


def _add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options valid before or after the subcommand (`run.py check-config --config X` too)."""
    def default(value):
        return argparse.SUPPRESS if suppress else value

    taken = parser._option_string_actions  # noqa: SLF001 - skip options a subcommand defines itself
    options = (
        ("--config", dict(type=Path, default=default(ROOT / "config.yaml"), help="config file (default: config.yaml)")),
        ("--db", dict(default=default(None), help="DuckDB file (overrides store.path), so instances can run side by side")),
        ("--host", dict(default=default(None), help="web server address (overrides web.host)")),
        ("--port", dict(type=int, default=default(None), help="web server port (overrides web.port)")),
        ("--mqtt-url", dict(default=default(None), help="broker mqtt://host:port (overrides mqtt.url and the embedded broker)")),
        ("--no-simulator", dict(action="store_true", default=default(False), help="do not run the demo traffic simulator")),
        ("--no-web", dict(action="store_true", default=default(False), help="run ingest, rules and scheduler without the web server")),
        ("--log-level", dict(default=default("INFO"), help="DEBUG, INFO, WARNING …")),
        ("--mode", dict(choices=("city", "district"), default=default(None),
                        help="run as a city or a district center (overrides federation.role; docs/federation.md)")),
    )
    for flag, kwargs in options:
        if flag not in taken and (not suppress or flag in SUBCOMMAND_OPTIONS):
            parser.add_argument(flag, **kwargs)


def _add_common_everywhere(parser: argparse.ArgumentParser) -> None:
    for action in parser._subparsers._group_actions if parser._subparsers else ():  # noqa: SLF001
        for sub in action.choices.values():
            _add_common(sub, suppress=True)
            _add_common_everywhere(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py", description="城运平台 ops-center: ingest, rules, SLA escalation and the Dash screens.")
    _add_common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="start everything (the default)")
    sub.add_parser("check-config", help="validate the config file and exit (0 ok, 2 invalid)")
    report = sub.add_parser("report", help="write one ISO week's report (xlsx, or csv by extension)")
    report.add_argument("--week", required=True, help="ISO week, e.g. 2026-W47 (Asia/Shanghai)")
    report.add_argument("--out", required=True, type=Path, help="output file, .xlsx or .csv")
    report.add_argument("--area", default=None,
                        help="area code (district, street, …); default: the district, at a city center the city")
    shots = sub.add_parser("screenshots", help="write PNG screenshots of every screen on demo data")
    shots.add_argument("--out", type=Path, default=ROOT / "out" / "screenshots", help="folder (default out/screenshots)")
    from ops_center.wiring.archive_cli import add_parsers as add_archive_parsers
    from ops_center.wiring.backup_cli import add_parsers as add_backup_parsers
    from ops_center.wiring.fed_cli import add_parsers as add_federation_parsers
    from rules.cli import add_parser as add_rules_parser

    add_backup_parsers(sub)
    add_archive_parsers(sub)
    add_federation_parsers(sub)
    add_rules_parser(sub)
    _add_common_everywhere(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("apscheduler", "werkzeug"):  # a line per job run / per request drowns the useful lines
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        cfg = load_config(args.config, role=args.mode)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)  # noqa: T201 - the CLI's answer
        return 2
    command = args.command or "serve"
    if command == "check-config":
        print(f"config OK: {args.config} ({len(cfg.areas.items)} areas, {len(cfg.sla.table)} SLA rows)")  # noqa: T201
        _check_config_warnings(cfg)
        return 0
    if command == "rules":
        from rules.cli import run as run_rules

        return run_rules(args, cfg, args.config)
    if command == "report":
        return _report(args, cfg)
    if command in ("backup", "restore"):
        from ops_center.core.clock import utc_now
        from ops_center.wiring.backup_cli import run as run_backup

        return run_backup(args, cfg, args.config, utc_now)
    if command == "archive":
        from ops_center.core.clock import utc_now
        from ops_center.wiring.archive_cli import run as run_archive

        return run_archive(args, cfg, args.config, utc_now)
    if command == "federation":
        from ops_center.wiring.fed_cli import run as run_federation

        return run_federation(args, cfg)
    if command == "screenshots":
        from ops_center.wiring.screenshots import main as screenshots_main

        return screenshots_main(["--config", str(args.config), "--out", str(args.out)])
    return _serve(args, cfg)


def _check_config_warnings(cfg) -> None:
    """check-config's warnings (not errors): the holiday calendar ends within calendar.warn_before, the shipped key."""
    from ops_center.core.clock import utc_now
    from ops_center.read.calendar_coverage import coverage
    from ops_center.web.web_secret import is_placeholder

    cov = coverage(cfg, utc_now())
    if cov.state != "ok":
        print(f"warning: {cov.message()}", file=sys.stderr)  # noqa: T201 - the CLI's answer
    if is_placeholder(cfg.web.secret_key):
        print("warning: web.secret_key is the shipped placeholder: the demo signs with a random key instead, "  # noqa: T201
              "and run.py refuses to start with it outside demo mode", file=sys.stderr)


def _report(args: argparse.Namespace, cfg) -> int:
    from ops_center.read.weekly_report import parse_week, report_area, write_weekly_report
    from ops_center.wiring.app import build_context

    try:  # a bad week or area is the user's error, told before the store is opened
        parse_week(args.week)
        report_area(cfg, args.area)
    except ValueError as exc:
        print(f"report: {exc}", file=sys.stderr)  # noqa: T201 - the CLI's answer
        return 2
    ctx = build_context(cfg, args.config, db_path=args.db)
    try:
        path = write_weekly_report(ctx.store, cfg, args.week, args.out, area=args.area)
    finally:
        ctx.store.close()
    print(f"report written: {path}")  # noqa: T201 - the CLI's answer
    return 0


def _serve(args: argparse.Namespace, cfg) -> int:
    from werkzeug.serving import make_server

    from ops_center.web.context import set_context
    from ops_center.web.web_secret import InsecureSecretKey, session_key
    from ops_center.wiring.app import build_context, start
    from ops_center.wiring.backup_cli import store_file

    host, port = args.host or cfg.web.host, args.port or cfg.web.port
    secret = None
    if not args.no_web:
        db = store_file(cfg, args.config, args.db)
        try:
            secret = session_key(cfg, db.parent, host=host, mqtt_url=args.mqtt_url,
                                 simulator=cfg.simulator.enabled and not args.no_simulator)
        except InsecureSecretKey as exc:
            log.error("refusing to start: %s", exc)
            return 2
    ctx = build_context(cfg, args.config, db_path=args.db)
    set_context(ctx)
    running = start(ctx, mqtt_url=args.mqtt_url, simulator=False if args.no_simulator else None)
    stop = threading.Event()
    server = None
    if not args.no_web:
        from ops_center.web.server import create_app

        app = create_app(ctx, secret_key=secret)
        server = make_server(host, port, app.server, threaded=True)
        log.info("web UI on http://%s:%d/ (wall: /wall, console: /console)", host, port)

    def _on_signal(signum, _frame):
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        stop.set()
        if server is not None:
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    pid_file = _announce_pid(ctx, running)
    try:
        if server is not None:
            server.serve_forever()
        else:
            while not stop.wait(1):
                pass
    finally:
        running.stop()
        pid_file.unlink(missing_ok=True)
    return 0


def _announce_pid(ctx, running) -> Path:
    """`<store>.pid` for `run.py backup` and `run.py archive`; SIGUSR1 / SIGUSR2 their requests, run on the scheduler's thread."""
    from ops_center.wiring.app import archive_running_store, backup_running_store
    from ops_center.wiring.archive_cli import ARCHIVE_SIGNAL
    from ops_center.wiring.backup_cli import BACKUP_SIGNAL, pid_path

    def _on_backup(_signum, _frame):  # serve always starts the scheduler; the job runs off the signal handler
        running.scheduler.add_job(backup_running_store, args=[ctx], id="store_backup_now", replace_existing=True)

    def _on_archive(_signum, _frame):
        running.scheduler.add_job(archive_running_store, args=[ctx], id="store_archive_now", replace_existing=True)

    signal.signal(BACKUP_SIGNAL, _on_backup)
    signal.signal(ARCHIVE_SIGNAL, _on_archive)
    path = pid_path(ctx.store.path)  # the file this center holds, as it opened it
    path.write_text(f"{os.getpid()}\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
