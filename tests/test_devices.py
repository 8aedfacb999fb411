"""The device registry: the shipped demo set is complete and consistent; bad rows stop at their line."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from ops_center.core import geo
from ops_center.core.area_codes import street_of
from ops_center.core.devices import COLUMNS, DEVICE_KINDS, Device, DeviceError, DeviceRegistry, load_devices

DATA = Path(__file__).resolve().parent / "data" / "devices"
BAD = sorted(DATA.glob("bad_*.csv"))
PREFIX = {"smoke": "SMK", "gas": "GAS", "water_meter": "WMT", "sos": "SOS", "street_light": "SLT"}


@pytest.fixture(scope="module")
def registry(cfg) -> DeviceRegistry:
    return load_devices(cfg.path_of(cfg.devices.path), cfg)


def test_shipped_registry_size_and_kinds(registry):
    assert 300 <= len(registry) <= 600
    assert set(registry.by_kind) == set(DEVICE_KINDS)
    assert all(len(registry.by_kind[k]) >= 10 for k in DEVICE_KINDS)
    assert sum(len(v) for v in registry.by_kind.values()) == len(registry)


def test_device_ids_follow_the_kind_prefix(registry):
    for kind, prefix in PREFIX.items():
        ids = [d.device_id for d in registry.by_kind[kind]]
        assert ids == [f"{prefix}-{i:04d}" for i in range(1, len(ids) + 1)]


def test_every_grid_has_a_device_and_every_device_a_grid(cfg, registry):
    grids = {a.code for a in cfg.areas.items if a.level == "grid"}
    assert set(registry.by_area) == grids
    assert all(d.grid_code == d.area_code for d in registry.values())


def test_device_positions_locate_to_their_own_grid(cfg, registry):
    wrong = [d.device_id for d in registry.values() if geo.locate(cfg, None, lat=d.lat, lon=d.lon) != d.area_code]
    assert not wrong


def test_lone_elder_homes_carry_smoke_and_gas_at_the_same_address(registry):
    for kind in ("water_meter", "sos", "fall"):
        assert all(d.lone_elder for d in registry.by_kind[kind])
    elder_smoke = [d for d in registry.by_kind["smoke"] if d.lone_elder]
    assert 10 <= len(elder_smoke) < len(registry.by_kind["smoke"])
    for smoke in elder_smoke:
        kinds = {d.kind for d in registry.by_address[smoke.address]}
        assert {"smoke", "water_meter"} <= kinds
        assert registry.lone_elder_at(smoke.address)
    assert any(d.lone_elder for d in registry.by_kind["gas"])
    street = registry.by_kind["manhole"][0]
    assert not registry.lone_elder_at(street.address)


def test_addresses_name_real_chenghua_roads(cfg, registry):
    roads = tuple(r.name for r in cfg.areas.roads)
    assert all(d.address.startswith(roads) for d in registry.values())
    # the address alone leads to the device's street
    sample = list(registry.values())[::25]
    assert all(street_of(geo.locate(cfg, None, address=d.address)) == street_of(d.area_code) for d in sample)


def test_registry_is_read_only(registry):
    dev = registry["SMK-0001"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        dev.kind = "gas"  # type: ignore[misc]
    with pytest.raises(TypeError):
        registry._devices["X"] = dev  # type: ignore[index]
    with pytest.raises(TypeError):
        dev.attrs["installed"] = "x"  # type: ignore[index]
    assert "NOPE-0001" not in registry and registry.get("NOPE-0001") is None


def test_good_file_with_bom_blank_line_and_extra_column(cfg):
    reg = load_devices(DATA / "good.csv", cfg)
    assert list(reg) == ["SMK-9001", "WMT-9001", "MHC-9001"]
    smoke = reg["SMK-9001"]
    assert smoke == Device(
        device_id="SMK-9001",
        kind="smoke",
        area_code="510108002005001",
        lat=30.6599,
        lon=104.0807,
        address="望平街12号2栋1单元301室",
        building="望平街12号院2栋",
        lone_elder=True,
        attrs={"installed": "2024-01-05"},
    )
    assert reg["MHC-9001"].building == "" and reg["MHC-9001"].lone_elder is False
    assert [d.device_id for d in reg.by_kind["water_meter"]] == ["WMT-9001"]
    assert reg.by_kind["noise"] == ()


def test_shipped_file_has_the_documented_columns(cfg):
    with cfg.path_of(cfg.devices.path).open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert tuple(header[: len(COLUMNS)]) == COLUMNS


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_registry_reports_file_line_and_message(cfg, path: Path):
    with pytest.raises(DeviceError) as info:
        load_devices(path, cfg)
    assert str(info.value) == path.with_suffix(".expect").read_text(encoding="utf-8").strip()
    assert info.value.file == path.name


def test_missing_and_empty_files(cfg, tmp_path):
    with pytest.raises(DeviceError, match=r"^devices\.csv: file not found$"):
        load_devices(tmp_path / "devices.csv", cfg)
    (tmp_path / "devices.csv").write_text("", encoding="utf-8")
    with pytest.raises(DeviceError, match=r"^devices\.csv:1: empty file"):
        load_devices(tmp_path / "devices.csv", cfg)


def test_there_are_bad_registry_files():
    assert len(BAD) >= 10
    assert all(p.with_suffix(".expect").is_file() for p in BAD)
