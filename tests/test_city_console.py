"""A city's console in a browser (issue 17): a leader's 督办 leaves as a command, shown pending, then refused with why.

The city store is fed by two districts' outboxes (tests/fixtures_city.py); the console's incident service forwards
city actions to the command book (`FedCommands`), as ops_center/wiring/app.py wires a city center. No broker: the
district's refusal is recorded through the book, as the consumer does when the answer arrives.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.fed_consumer import FedCommands
from layouts import ids  # ids only: never a page module
from ops_center.core.config import load_config
from ops_center.read import queries
from ops_center.service.fed_apply import upstream_of
from ops_center.service.fed_commands import CityCommands
from ops_center.store.store import Store
from tests.factories import FixedClock
from tests.fixtures_city import JINJIANG, federate, write_configs
from tests.fixtures_web import login
from tests.test_workorder_loop_browser import console_click, open_in_console, type_note

SHOTS = Path("/tmp/shots/fedproc")
REFUSAL = "该事件已由区县办结，无需督办（区县事件 #{upstream}）"
LONG = 30


@pytest.fixture(scope="module")
def config_path(tmp_path_factory) -> Path:
    return write_configs(tmp_path_factory.mktemp("city_console"))[0]


@pytest.fixture(scope="module")
def cfg(config_path):
    return load_config(config_path)


@pytest.fixture
def city_book(web_ctx, districts, fixed_now) -> CityCommands:
    """The city store holding both districts' incidents, its console actions forwarded as commands."""
    federate(districts, web_ctx.store, FixedClock(fixed_now))
    book = CityCommands(web_ctx.store, web_ctx.clock)
    web_ctx.service.forward = FedCommands(web_ctx.cfg, book, web_ctx.clock)
    return book


def supervisable(store: Store) -> int:
    """The first 锦江区 incident in the leader's queue (due order) a leader may 督办: dispatched, not yet supervised
    (near the top, so the grid has rendered its row)."""
    queue, _ = queries.console_page(store, queries.QueueFilters(statuses=queries.QUEUE_STATUSES), None)
    rows = queue[(queue["status"] == "dispatched") & (queue["area_code"].str.startswith(JINJIANG))]
    supervised = {int(r[0]) for r in store.query("SELECT incident_id FROM incidents WHERE supervised")}
    candidates = [int(i) for i in rows["incident_id"] if int(i) not in supervised]
    assert candidates, "the fixture districts have dispatched incidents"
    return candidates[0]


@pytest.mark.browser
def test_a_leaders_supervision_shows_pending_then_refused_with_the_reason(city_book, web_duo):
    SHOTS.mkdir(parents=True, exist_ok=True)
    duo, store = web_duo, city_book.store
    duo.driver.set_window_size(1920, 1080)
    iid = supervisable(store)
    district, upstream = upstream_of(iid)
    assert district == JINJIANG

    login(duo, "leader")
    open_in_console(duo, iid)
    type_note(duo, ids.CONSOLE_NOTE, "限期三日内办结")
    console_click(duo, ids.CONSOLE_SUPERVISE)
    duo.wait_for_contains_text(f"#{ids.CONSOLE_WO_MESSAGE}", f"#{iid} 已发送督办指令，待区县确认", timeout=LONG)
    duo.wait_for_contains_text(f"#{ids.CONSOLE_DETAIL} .detail-fed-pending", "市级指令待区县确认", timeout=LONG)
    line = duo.find_element(f"#{ids.CONSOLE_DETAIL} .detail-fed-pending").text
    assert "leader 督办" in line and "尚未发出" in line, line  # no consumer runs here: never sent yet
    duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})",
                              duo.find_element(f"#{ids.CONSOLE_DETAIL} .detail-fed-pending"))
    booked = store.query("SELECT command_id, action, district_code, state FROM fed_commands WHERE incident_id = ?", [iid])
    assert [(a, d, s) for _, a, d, s in booked] == [("supervise", JINJIANG, "pending")]
    assert not store.query("SELECT supervised FROM incidents WHERE incident_id = ?", [iid])[0][0], \
        "the city records nothing of its own: the district owns the incident"
    duo.driver.save_screenshot(str(SHOTS / "city-console-pending-1080p.png"))

    reason = REFUSAL.format(upstream=upstream)
    assert city_book.settle([{"command_id": booked[0][0], "result": "refused", "reason": reason}], city_book.clock()) == 1
    open_in_console(duo, iid)
    duo.wait_for_contains_text(f"#{ids.CONSOLE_DETAIL} .detail-fed-refused", "市级指令被区县拒绝", timeout=LONG)
    line = duo.find_element(f"#{ids.CONSOLE_DETAIL} .detail-fed-refused").text
    assert reason in line and "leader 督办" in line, line
    assert not duo.driver.find_elements("css selector", f"#{ids.CONSOLE_DETAIL} .detail-fed-pending")
    duo.driver.save_screenshot(str(SHOTS / "city-console-refused-1080p.png"))
    logs = duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]
