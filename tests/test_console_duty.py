"""值班台 as a duty officer judges it: the selection never moves under the hand, a conflict says what changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from layouts import ids
from ops_center.read import queries
from ops_center.service.incidents import Actor
from tests.factories import make_incident, make_incidents
from tests.fixtures_web import login


def _open(duo, incident_id: int) -> None:
    cell = f'#{ids.CONSOLE_GRID} .ag-row[row-id="{incident_id}"] .ag-cell[col-id="title"]'
    duo.wait_for_element(cell).click()
    duo.wait_for_contains_text(f"#{ids.CONSOLE_DETAIL} .detail-id", f"#{incident_id}")


def _only_new(duo) -> None:
    """Narrow the status filter to 待受理 the way an officer does: Backspace removes the last chosen status."""
    box = duo.wait_for_element(f"#{ids.CONSOLE_F_STATUS}")
    box.click()
    for _ in range(3):
        box.send_keys(Keys.BACKSPACE)
    box.send_keys(Keys.ESCAPE)


def test_pages_have_a_real_total_and_a_chosen_order(web_ctx):
    now = web_ctx.clock()
    specs = [{"domain": "traffic", "severity": ("P1", "P4")[i % 2], "status": "new", "area_code": "510108004"}
             for i in range(130)]
    make_incidents(web_ctx.store, web_ctx.cfg, specs, now=now - timedelta(minutes=3))
    filters = queries.QueueFilters()
    first, total = queries.console_page(web_ctx.store, filters, None, page=1)
    second, _ = queries.console_page(web_ctx.store, filters, None, page=2)
    assert total == 130 and len(first) == 100 and len(second) == 30
    assert not set(first["incident_id"]) & set(second["incident_id"])
    by_severity, _ = queries.console_page(web_ctx.store, filters, None, sort="severity")
    assert list(by_severity["severity"][:65]) == ["P1"] * 65
    newest, _ = queries.console_page(web_ctx.store, filters, None, sort="created")
    assert newest["created_at"].is_monotonic_decreasing
    scoped, n = queries.console_page(web_ctx.store, filters, "510108002")
    assert n == 0 and scoped.empty


@pytest.mark.browser
def test_selection_stays_on_the_incident_acted_on_in_a_filtered_list(web_ctx, web_duo):
    now = web_ctx.clock()
    specs = [{"domain": "elderly_care", "severity": "P2", "status": "new", "area_code": "510108002001",
              "title": f"适老设备low_battery 猛追湾{i}号"} for i in range(3)]
    acted, neighbour, _ = make_incidents(web_ctx.store, web_ctx.cfg, specs, now=now - timedelta(minutes=2))
    login(web_duo, "officer")
    web_duo.wait_for_element(f'#{ids.CONSOLE_GRID} .ag-row[row-id="{acted}"]', timeout=10)
    _only_new(web_duo)
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_COUNT}", "共 3 条")
    _open(web_duo, acted)
    # Codes read as Chinese; the street is named; no "nan" in the timeline of a freshly created incident.
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_DETAIL} .detail-title", "适老设备电量低")
    web_duo.wait_for_contains_text(f'.ag-row[row-id="{acted}"] .ag-cell[col-id="area"]', "猛追湾街道 · ")
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_TIMELINE}", "创建")
    assert "nan" not in web_duo.find_element(f"#{ids.CONSOLE_TIMELINE}").text

    web_duo.wait_for_element(f"#{ids.CONSOLE_ACTIONS['acknowledge']}:not([disabled])")
    ActionChains(web_duo.driver).send_keys("a").perform()
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_MESSAGE}", f"#{acted} 已受理")
    # It left the filter, yet stays listed, selected and in the detail; nothing else got selected.
    row = f'#{ids.CONSOLE_GRID} .ag-row[row-id="{acted}"]'
    web_duo.wait_for_contains_class(row, "row-pinned")
    web_duo.wait_for_contains_class(row, "ag-row-selected")
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_DETAIL} .badges", "已受理")
    assert web_duo.find_element(f"#{ids.CONSOLE_DETAIL} .detail-id").text == f"#{acted}"
    assert len(web_duo.find_elements(f"#{ids.CONSOLE_GRID} .ag-center-cols-container .ag-row-selected")) == 1
    assert "nan" not in web_duo.find_element(f"#{ids.CONSOLE_TIMELINE}").text
    # The next "a" would have acknowledged the neighbour; it must not.
    web_duo.wait_for_element(f"#{ids.CONSOLE_ACTIONS['acknowledge']}[disabled]")
    ActionChains(web_duo.driver).send_keys("a").perform()
    assert web_ctx.service.get(neighbour)["status"] == "new"
    logs = web_duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]


@pytest.mark.browser
def test_a_conflict_says_what_changed_and_retries_in_one_click(web_ctx, web_duo, monkeypatch):
    now = web_ctx.clock()
    target = make_incident(web_ctx.store, web_ctx.cfg, now=now - timedelta(minutes=3), domain="traffic",
                           severity="P2", status="new", area_code="510108004")
    service, acknowledge, raced = web_ctx.service, web_ctx.service.acknowledge, []

    def leader_first(actor, incident_id, version, **kw):
        """An escalation lands in the instant the officer clicks: the real service then refuses the stale version."""
        if not raced:
            raced.append(service.escalate(Actor("officer2", "officer", "510108"), incident_id, version, note="请尽快处理"))
        return acknowledge(actor, incident_id, version, **kw)

    monkeypatch.setattr(service, "acknowledge", leader_first)
    login(web_duo, "officer")
    _open(web_duo, target)
    web_duo.wait_for_element(f"#{ids.CONSOLE_ACTIONS['acknowledge']}:not([disabled])").click()
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_MESSAGE}", "在您打开后已有变化")
    text = web_duo.find_element(f"#{ids.CONSOLE_MESSAGE}").text
    assert "officer2上报" in text and "当前状态：待受理" in text, text
    assert web_ctx.service.get(target)["status"] == "new"
    web_duo.wait_for_element(f"#{ids.CONSOLE_RETRY_BTN}").click()
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_MESSAGE}", f"#{target} 已受理")
    assert web_ctx.service.get(target)["status"] == "acknowledged"
    web_duo.wait_for_style_to_equal(f"#{ids.CONSOLE_RETRY_BTN}", "display", "none")
    logs = web_duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]


@pytest.mark.browser
def test_queue_pages_and_sorts_by_deadline(web_ctx, web_duo):
    now = web_ctx.clock()
    specs = [{"domain": "traffic", "severity": "P3", "status": "new", "area_code": "510108004"} for _ in range(120)]
    make_incidents(web_ctx.store, web_ctx.cfg, specs, now=now - timedelta(minutes=3))
    login(web_duo, "officer")
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_COUNT}", "共 120 条 · 第 1/2 页", timeout=10)
    web_duo.wait_for_contains_text(f'#{ids.CONSOLE_GRID} .ag-header-cell[col-id="countdown"]', "时限（受理/办结）")
    web_duo.find_element(f'#{ids.CONSOLE_GRID} .ag-header-cell[col-id="countdown"] .ag-header-cell-label').click()
    web_duo.wait_for_element(f'#{ids.CONSOLE_GRID} .ag-header-cell[col-id="countdown"][aria-sort="ascending"]')
    cells = [e.text for e in web_duo.find_elements(f'#{ids.CONSOLE_GRID} .ag-cell[col-id="countdown"]')]
    assert cells and all(c.startswith("受理 ") for c in cells), cells
    pager = web_duo.driver.find_elements("css selector", ".console-pager button")
    next(b for b in pager if b.text == "2").click()
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_COUNT}", "第 2/2 页")
    logs = web_duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]


@pytest.mark.browser
def test_an_officer_requests_an_extension_and_a_leader_approves_it(web_ctx, web_duo):
    now = web_ctx.clock()
    target = make_incident(web_ctx.store, web_ctx.cfg, now=now - timedelta(hours=1), domain="city_management",
                           severity="P3", status="dispatched", area_code="510108004")
    login(web_duo, "officer")
    _open(web_duo, target)
    web_duo.find_element(f"#{ids.CONSOLE_NOTE}").send_keys("需协调园林部门，材料到货后处理")
    web_duo.wait_for_element(f"#{ids.CONSOLE_ACTIONS['request_extension']}:not([disabled])").click()
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_MESSAGE}", f"#{target} 已申请延期")
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_EXTENSION}", "待审批延期")
    assert "24 小时" in web_duo.find_element(f"#{ids.CONSOLE_EXTENSION}").text
    assert web_duo.find_element(f"#{ids.CONSOLE_ACTIONS['decide_extension']}").get_attribute("disabled")

    web_duo.driver.delete_all_cookies()
    login(web_duo, "leader", next_path="/console")
    _open(web_duo, target)
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_EXTENSION}", "需协调园林部门")
    web_duo.wait_for_element(f"#{ids.CONSOLE_ACTIONS['decide_extension']}:not([disabled])").click()
    web_duo.wait_for_contains_text(f"#{ids.CONSOLE_MESSAGE}", f"#{target} 延期申请已批准")
    status = web_ctx.store.query("SELECT status, decided_by FROM extensions WHERE incident_id = ?", [target])
    assert status == [("approved", "leader")]
    assert web_duo.find_element(f"#{ids.CONSOLE_ACTIONS['acknowledge']}").get_attribute("disabled")  # leaders do not work the queue
    logs = web_duo.get_logs()
    assert logs == [], [e["message"][:300] for e in logs]
