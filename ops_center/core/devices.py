"""The device registry: which sensor sits where, so a reading is located by its device, not guessed."""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

from ops_center.core.config import Config
from ops_center.core.yamlsource import SourceError

log = logging.getLogger(__name__)

DEVICE_KINDS = (
    "smoke",
    "gas",
    "water_level",
    "manhole",
    "aqi",
    "noise",
    "traffic",
    "water_meter",
    "sos",
    "fall",
    "hydrant",
    "ebike_lift",
    "street_light",
)
KIND_NAMES = {
    "smoke": "烟感",
    "gas": "燃气",
    "water_level": "积水水位",
    "manhole": "井盖",
    "aqi": "空气质量",
    "noise": "噪声",
    "traffic": "交通流量",
    "water_meter": "智能水表",
    "sos": "一键呼救",
    "fall": "跌倒监测",
    "hydrant": "消火栓",
    "ebike_lift": "电梯电瓶车",
    "street_light": "路灯",
}
# Required columns, in the order the shipped file writes them; any further column goes to attrs.
COLUMNS = ("device_id", "kind", "grid_code", "lat", "lon", "address", "building", "lone_elder")
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "": False}


class DeviceError(SourceError):
    """The registry file is invalid; the message is `devices.csv:LINE: what is wrong`."""


@dataclass(frozen=True, slots=True)
class Device:
    """One registered sensor; area_code is the grid it serves."""

    device_id: str
    kind: str
    area_code: str
    lat: float
    lon: float
    address: str = ""
    building: str = ""
    lone_elder: bool = False
    attrs: Mapping[str, str] = field(default_factory=dict)

    @property
    def grid_code(self) -> str:
        return self.area_code


class DeviceRegistry(Mapping[str, Device]):
    """Read-only device_id → Device mapping with the lookups rules and screens need."""

    def __init__(self, devices: Mapping[str, Device]):
        self._devices = MappingProxyType(dict(devices))

    def __getitem__(self, device_id: str) -> Device:
        return self._devices[device_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._devices)

    def __len__(self) -> int:
        return len(self._devices)

    def __repr__(self) -> str:
        return f"DeviceRegistry({len(self)} devices)"

    @cached_property
    def by_kind(self) -> Mapping[str, tuple[Device, ...]]:
        """Devices of each kind (every known kind present, possibly empty)."""
        out: dict[str, list[Device]] = {k: [] for k in DEVICE_KINDS}
        for dev in self._devices.values():
            out[dev.kind].append(dev)
        return MappingProxyType({k: tuple(v) for k, v in out.items()})

    @cached_property
    def by_area(self) -> Mapping[str, tuple[Device, ...]]:
        """Devices per grid code."""
        out: dict[str, list[Device]] = {}
        for dev in self._devices.values():
            out.setdefault(dev.area_code, []).append(dev)
        return MappingProxyType({k: tuple(v) for k, v in out.items()})

    @cached_property
    def by_address(self) -> Mapping[str, tuple[Device, ...]]:
        """Devices at one door address, e.g. a lone elder's smoke alarm next to their SOS button."""
        out: dict[str, list[Device]] = {}
        for dev in self._devices.values():
            if dev.address:
                out.setdefault(dev.address, []).append(dev)
        return MappingProxyType({k: tuple(v) for k, v in out.items()})

    def lone_elder_at(self, address: str) -> bool:
        """Whether a lone elder is registered at this address (amplifies a home alarm there)."""
        return any(d.lone_elder for d in self.by_address.get(address, ()))


def _number(device_id: str, text: str, name: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"device {device_id}: {name} {text!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"device {device_id}: {name} {text!r} is out of range {low:g}..{high:g}")
    return value


def _parse_row(row: dict[str, str], cfg: Config, extra: tuple[str, ...]) -> Device:
    device_id = row["device_id"].strip()
    if not device_id:
        raise ValueError("device_id is empty")
    kind = row["kind"].strip()
    if kind not in DEVICE_KINDS:
        raise ValueError(f"device {device_id}: unknown kind {kind!r}; known: {', '.join(DEVICE_KINDS)}")
    grid = row["grid_code"].strip()
    area = cfg.area_by_code.get(grid)
    if area is None:
        raise ValueError(f"device {device_id}: unknown grid code {grid!r}")
    if area.level != "grid":
        raise ValueError(f"device {device_id}: grid_code {grid!r} is a {area.level} ({area.name}), not a grid")
    flag = row["lone_elder"].strip().lower()
    if flag not in _BOOLS:
        raise ValueError(f"device {device_id}: lone_elder {row['lone_elder']!r} is not true/false")
    return Device(
        device_id=device_id,
        kind=kind,
        area_code=grid,
        lat=_number(device_id, row["lat"].strip(), "lat", -90, 90),
        lon=_number(device_id, row["lon"].strip(), "lon", -180, 180),
        address=row["address"].strip(),
        building=row["building"].strip(),
        lone_elder=_BOOLS[flag],
        attrs=MappingProxyType({k: row[k].strip() for k in extra if row[k] and row[k].strip()}),
    )


def load_devices(path: str | Path, cfg: Config) -> DeviceRegistry:
    """Read the registry CSV strictly: any bad row stops start-up as `devices.csv:LINE: message`."""
    path = Path(path)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DeviceError(name, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise DeviceError(name, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DeviceError(name, 1, "empty file: expected a header row") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DeviceError(name, 1, f"missing column(s): {', '.join(missing)}")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DeviceError(name, 1, f"duplicate column(s): {', '.join(dupes)}")
    extra = tuple(h for h in header if h not in COLUMNS)
    devices: dict[str, Device] = {}
    first_line: dict[str, int] = {}
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DeviceError(name, reader.line_num, f"CSV syntax error: {exc}") from None
        line = reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise DeviceError(name, line, f"expected {len(header)} columns, got {len(cells)}")
        try:
            dev = _parse_row(dict(zip(header, cells, strict=True)), cfg, extra)
        except ValueError as exc:
            raise DeviceError(name, line, str(exc)) from None
        if dev.device_id in devices:
            raise DeviceError(
                name, line, f"device {dev.device_id} appears twice (first on line {first_line[dev.device_id]})"
            )
        devices[dev.device_id] = dev
        first_line[dev.device_id] = line
    log.info("loaded %d devices from %s", len(devices), path)
    return DeviceRegistry(devices)
