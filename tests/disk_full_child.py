"""Child process for the disk-full test: the real app core and MQTT intake with a file-size limit on its store.

`python3 -m tests.disk_full_child CONFIG DB MQTT_URL LIMIT_BYTES` (LIMIT 0: no limit). RLIMIT_FSIZE makes
every write past LIMIT bytes of a file fail with EFBIG, as a full disk fails it with ENOSPC; a small
checkpoint threshold makes DuckDB checkpoint (and so grow the database file) after a few hundred KB.
"""

from __future__ import annotations

import logging
import resource
import signal
import sys
import threading
from pathlib import Path

from ops_center.core.config import load_config
from ops_center.wiring.app import build_context, start


def main() -> int:
    config, db, url, limit = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx = build_context(load_config(config), config, db_path=db)
    if limit:
        ctx.store.write(lambda conn: conn.execute("SET checkpoint_threshold = '256KB'"))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (db.stat().st_size + limit, resource.RLIM_INFINITY))
    running = start(ctx, mqtt_url=url, simulator=False, scheduler=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    running.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
