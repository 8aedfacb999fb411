"""Pre-filling dispatch from the catalogue in force at the case's creation, and the 基层减负 guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ops_center.core.dispatch_catalogue import EPOCH, Catalogue, Entry, Version, known_units
from ops_center.core.dispatch_suggest import guard_warning, resolve_unit, suggest_dispatch

T1 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
GRID = "510108002005001"
COMMUNITY, STREET = GRID[:12], GRID[:9]


@pytest.fixture
def catalogue() -> Catalogue:
    v0 = Version(0, EPOCH, (
        Entry("city_management", None, "*", "urban_mgmt", (), "community"),
        Entry("city_management", "street_vending", "*", "urban_mgmt", ("@community", "@street"), "street"),
        Entry("elderly_care", "missed_checkin", "*", "@community", ("civil_affairs",), "community"),
    ))
    v1 = Version(1, T1, (Entry("city_management", None, "*", "emergency", ("urban_mgmt",), "district"),))
    return Catalogue((v0, v1), frozenset({"community_office"}))


def _incident(category="street_vending", created=T1 - timedelta(hours=1), area=GRID, domain="city_management"):
    return {"domain": domain, "category": category, "area_code": area, "created_at": created}


def test_suggestion_follows_the_version_in_force_at_creation(catalogue):
    old = suggest_dispatch(catalogue, _incident())
    assert (old.lead_unit, old.co_units, old.level, old.version) == (
        "urban_mgmt", (f"community:{COMMUNITY}", f"street:{STREET}"), "street", 0)
    new = suggest_dispatch(catalogue, _incident(created=T1))
    assert (new.lead_unit, new.co_units, new.level, new.version) == ("emergency", ("urban_mgmt",), "district", 1)
    naive_utc = suggest_dispatch(catalogue, _incident(created=T1.replace(tzinfo=None)))  # as the store returns it
    assert naive_utc.version == 1


def test_own_community_and_street_resolve_from_the_incident_area(catalogue):
    s = suggest_dispatch(catalogue, _incident("missed_checkin", domain="elderly_care"))
    assert (s.lead_unit, s.co_units, s.warnings) == (f"community:{COMMUNITY}", ("civil_affairs",), ())
    street_only = suggest_dispatch(catalogue, _incident("missed_checkin", domain="elderly_care", area=STREET))
    assert street_only.lead_unit == f"street:{STREET}"
    assert street_only.warnings == ("事件未定位到社区，按派单目录改由所在街道办主办",)
    assert resolve_unit("@street", "510108") == (None, "事件未定位到街道，请手动选择主办单位")


def test_unclassified_and_uncovered_cases_say_why(catalogue):
    assert suggest_dispatch(catalogue, _incident(domain="unclassified")).warnings[0].startswith("待分类事件")
    gap = suggest_dispatch(catalogue, _incident(domain="traffic", category="accident"))
    assert gap.lead_unit is None and "没有「交通管理」的条目" in gap.warnings[0]


def test_guard_warns_when_a_functional_departments_case_goes_to_a_community(cfg, catalogue):
    units = known_units(cfg)
    incident = _incident()
    for grassroots in (f"community:{COMMUNITY}", "community_office", "@community"):
        warning = guard_warning(catalogue, incident, grassroots, units)
        assert warning is not None and warning.startswith("基层减负提醒：「占道经营」按派单目录（第 0 版）由职能部门城管局主办")
    assert guard_warning(catalogue, incident, "urban_mgmt", units) is None  # as catalogued
    assert guard_warning(catalogue, incident, "water", units) is None  # another department: not pushed down
    assert guard_warning(catalogue, incident, f"street:{STREET}", units) is None
    # a case the catalogue itself gives to the community is not pushed down
    own = _incident("missed_checkin", domain="elderly_care")
    assert guard_warning(catalogue, own, f"community:{COMMUNITY}", units) is None


def test_guard_judges_by_the_catalogue_at_creation(cfg):
    units = known_units(cfg)
    v0 = Version(0, EPOCH, (Entry("city_management", None, "*", "urban_mgmt"),))
    v1 = Version(1, T1, (Entry("city_management", None, "*", "@community"),))
    cat = Catalogue((v0, v1), frozenset({"community_office"}))
    assert guard_warning(cat, _incident(category=None), "community_office", units) is not None
    assert guard_warning(cat, _incident(category=None, created=T1), "community_office", units) is None
