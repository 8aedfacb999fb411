"""Demo simulator: a day of 成华区 traffic through the real paths (MQTT sensors, grid reports, 12345 files).

`Scenario` is a pure, seeded generator: the same (seed, rate, start, end) gives the same messages,
byte for byte. `Simulator` plays a scenario in real time: MQTT messages to the broker, hotline
requests as GeoReport JSON / CSV (UTF-8 and GBK) files into the drop folder.

Shape of the day: an hourly rhythm (quiet nights, morning and evening peaks), a rainstorm burst on
one afternoon hour chosen by the seed (water levels rise, manholes tilt, waterlogging reports), an
evening noise peak (20:00-22:30), one smoke alarm repeated (exact duplicates and re-sends), and
about `malformed_ratio` of broken messages of every dead-letter kind.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.health import Meter, SourceHealth
from ingest.mqtt_client import parse_url
from ops_center.core.clock import utc_now
from ops_center.core.config import Config

log = logging.getLogger(__name__)

# Relative message rate by local hour: quiet nights, morning and evening peaks. Mean ≈ 1.
RHYTHM = (0.35, 0.25, 0.2, 0.2, 0.25, 0.4, 0.7, 1.1, 1.4, 1.3, 1.2, 1.2,
          1.1, 1.0, 1.1, 1.2, 1.3, 1.5, 1.6, 1.5, 1.4, 1.3, 0.9, 0.6)
CHANNELS = (("sensor", 0.78), ("grid", 0.12), ("hotline", 0.10))
KIND_WEIGHTS = {
    "smoke": 4, "gas": 8, "water_level": 8, "manhole": 6, "aqi": 12, "noise": 12, "traffic": 14,
    "water_meter": 14, "sos": 1.5, "fall": 1.5, "hydrant": 6, "ebike_lift": 2, "street_light": 4,
}
RAIN_MINUTES = 90
NOISE_PEAK = (20 * 60, 22 * 60 + 30)  # minutes of the local day
HOTLINE_BATCH = 4  # requests per dropped file
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"

# (category, text) per domain, {p} is a place: an address, road or community name.
REPORTS = {
    "public_security": [
        ("矛盾纠纷", "{p}两户居民因停车位发生争吵，情绪激动，需要社区调解"),
        ("打架斗殴", "{p}烧烤摊有人打架斗殴，有人受伤"),
        ("可疑人员", "{p}小区有陌生人挨家挨户推门，形迹可疑"),
        ("网约房", "{p}有网约房未登记住客信息，人员进出频繁"),
        ("盗窃", "{p}车棚电动车电瓶被盗"),
    ],
    "fire_safety": [
        ("电动车进电梯", "{p}有居民推电动车进电梯上楼充电"),
        ("消防通道堵塞", "{p}消防通道被杂物和车辆堵塞"),
        ("飞线充电", "{p}楼道飞线给电动车充电，存在火灾隐患"),
        ("燃气泄漏", "{p}单元楼道有明显燃气味，怀疑漏气"),
    ],
    "environment": [
        ("噪声扰民", "{p}夜间施工噪音很大，影响居民休息"),
        ("油烟扰民", "{p}餐馆油烟直排，楼上居民无法开窗"),
        ("垃圾倾倒", "{p}路边有人偷倒建筑垃圾"),
        ("水体污染", "{p}附近沙河河水发黑发臭"),
        ("焚烧冒烟", "{p}有人露天焚烧垃圾，浓烟很大"),
    ],
    "city_management": [
        ("占道经营", "{p}人行道上流动摊贩占道经营"),
        ("垃圾满溢", "{p}垃圾桶满溢，无人清运"),
        ("违章搭建", "{p}顶楼正在违章搭建彩钢棚"),
        ("井盖缺失", "{p}路面井盖松动缺失，行人容易踩空"),
        ("路灯不亮", "{p}一段路灯不亮，晚上很黑"),
    ],
    "traffic": [
        ("交通事故", "{p}路口两车追尾，占用车道"),
        ("交通拥堵", "{p}车辆排长队，严重拥堵"),
        ("违章停车", "{p}机动车乱停放，堵住小区出口"),
        ("信号灯故障", "{p}路口信号灯不亮"),
    ],
    "elderly_care": [
        ("独居老人", "{p}独居老人几天没见出门，邻居担心"),
        ("老人走失", "{p}一位老人走失，家属正在寻找"),
        ("老人摔倒", "{p}有老人在楼道摔倒，需要帮助"),
    ],
}
RAIN_REPORTS = [("道路积水", "{p}路段积水严重，车辆无法通行"), ("道路积水", "{p}下穿隧道积水，已没过车轮")]
NOISE_REPORTS = [("噪声扰民", "{p}广场舞音响声音太大，影响休息"), ("噪声扰民", "{p}酒吧音乐声很吵，已经很晚了")]
UPDATE_NOTES = [("closed", "已转交责任单位处置完毕，市民满意"), ("open", "已派单至街道办理"),
                ("closed", "现场核实已整改")]


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One thing to send at `at`: an MQTT publish (topic) or a hotline file (file name)."""

    at: datetime
    channel: str  # "mqtt" | "file"
    target: str
    payload: bytes


class Scenario:
    """Seeded generator of a day's traffic; all randomness comes from one `random.Random`."""

    def __init__(self, cfg: Config, registry, *, seed: int, events_per_minute: float, malformed_ratio: float = 0.01):
        self.cfg = cfg
        self.rate = events_per_minute
        self.malformed_ratio = malformed_ratio
        self.seed = seed
        self.tz = ZoneInfo(cfg.site.timezone)
        self.prefix = cfg.mqtt.topic_prefix.strip("/")
        self.rng = random.Random(seed)
        devices = sorted(registry.values(), key=lambda d: d.device_id) if registry is not None else []
        self.by_kind = {k: [d for d in devices if d.kind == k] for k in KIND_WEIGHTS}
        self.kinds = [k for k in KIND_WEIGHTS if self.by_kind[k]]
        self.grids = sorted(a.code for a in cfg.areas.items if a.level == "grid") or [cfg.site.default_area]
        self.places = sorted({d.address.split("号")[0] + "号" for d in devices if "号" in d.address})
        self.places += [r.name for r in cfg.areas.roads]
        self.places = self.places or [a.name for a in cfg.areas.items]
        self._seq = 0
        self._hotline: list[dict] = []
        self._open_requests: list[dict] = []
        self._files = 0
        self._repeat: tuple[str, bytes] | None = None
        self._rain: dict = {}

    # --- time shape ---

    def rain_window(self, day: datetime) -> tuple[datetime, datetime]:
        """The rainstorm of the local day containing `day`: an afternoon hour chosen by seed and date."""
        local = day.astimezone(self.tz)
        cached = self._rain.get(local.date())
        if cached is not None:
            return cached
        pick = random.Random(f"{self.seed}:{local.date().isoformat()}")
        start = local.replace(hour=pick.choice((14, 15, 16, 17)), minute=pick.randrange(0, 60, 5), second=0,
                              microsecond=0)
        self._rain[local.date()] = (start, start + timedelta(minutes=RAIN_MINUTES))
        return self._rain[local.date()]

    def raining(self, at: datetime) -> bool:
        start, end = self.rain_window(at)
        return start <= at < end

    def noisy_evening(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        return NOISE_PEAK[0] <= minute < NOISE_PEAK[1]

    def intensity(self, at: datetime) -> float:
        """Relative rate at `at` (1.0 = configured events_per_minute)."""
        factor = RHYTHM[at.astimezone(self.tz).hour]
        if self.raining(at):
            factor *= 1.8
        if self.noisy_evening(at):
            factor *= 1.2
        return factor

    # --- the stream ---

    def generate(self, start: datetime, end: datetime, *, flush: bool = True) -> Iterator[SimMessage]:
        """Messages in [start, end), in time order (thinned Poisson process; memoryless across calls).

        Hotline requests go out in files of HOTLINE_BATCH; `flush` also drops the partial last file.
        """
        peak = self.rate / 60.0 * max(RHYTHM) * 1.8 * 1.2
        t = start
        while True:
            t = t + timedelta(seconds=self.rng.expovariate(peak))
            if t >= end:
                break
            if self.rng.random() * peak * 60 / self.rate > self.intensity(t):
                continue
            yield from self._one(t)
        if flush and self._hotline:
            yield self._flush_hotline(end - timedelta(microseconds=1))

    def _one(self, at: datetime) -> Iterator[SimMessage]:
        rng = self.rng
        if rng.random() < self.malformed_ratio:
            yield self._malformed(at)
            return
        if self._repeat is not None and rng.random() < 0.02:
            topic, payload = self._repeat  # the same alarm again, byte for byte: dedup absorbs it
            yield SimMessage(at, "mqtt", topic, payload)
            return
        channel = self._choose(CHANNELS)
        if channel == "sensor":
            yield self._sensor(at)
        elif channel == "grid":
            yield self._grid(at)
        else:
            self._hotline.append(self._request(at))
            if len(self._hotline) >= HOTLINE_BATCH:
                yield self._flush_hotline(at)

    def _choose(self, weighted) -> str:
        names = [n for n, _ in weighted]
        return self.rng.choices(names, weights=[w for _, w in weighted])[0]

    def _ts(self, at: datetime) -> str:
        return at.astimezone(self.tz).isoformat(timespec="milliseconds")

    def _sensor(self, at: datetime) -> SimMessage:
        rng = self.rng
        weights = dict(KIND_WEIGHTS)
        if self.raining(at):
            weights["water_level"] *= 6
            weights["manhole"] *= 2
        if self.noisy_evening(at):
            weights["noise"] *= 4
        kind = self._choose([(k, weights[k]) for k in self.kinds])
        device = rng.choice(self.by_kind[kind])
        body: dict = {"ts": self._ts(at)}
        r = rng.random()
        if kind in ("smoke", "ebike_lift"):
            body["event"] = "alarm" if r < 0.35 else "restore" if r < 0.6 else "low_battery" if r < 0.85 else "offline"
            body["battery"] = rng.randint(5, 100)
        elif kind == "gas":
            if r < 0.06:
                body["event"] = "alarm"
            else:
                body.update(metric="lel_pct", value=round(rng.uniform(0, 3) if r < 0.97 else rng.uniform(25, 40), 1))
        elif kind == "water_level":
            level = rng.uniform(0, 8)
            if self.raining(at):
                start, _ = self.rain_window(at)
                level = min(80.0, (at - start).total_seconds() / 60 * rng.uniform(0.3, 1.2))
            body.update(metric="level_cm", value=round(level, 1))
        elif kind == "manhole":
            tilt = rng.uniform(0, 3) if r < 0.95 or not self.raining(at) else rng.uniform(10, 35)
            body.update(metric="tilt_deg", value=round(tilt if r < 0.98 else rng.uniform(10, 30), 1))
        elif kind == "aqi":
            pm25 = rng.gauss(55, 25) if r < 0.97 else rng.uniform(120, 280)
            body.update(metric="pm25" if rng.random() < 0.6 else "aqi", value=round(max(pm25, 3), 1))
        elif kind == "noise":
            db = rng.gauss(72, 6) if self.noisy_evening(at) else rng.gauss(52, 7)
            body.update(metric="db", value=round(db, 1))
        elif kind == "traffic":
            if r < 0.01:
                body["event"] = "accident"
            elif r < 0.02:
                body["event"] = "signal_fault"
            else:
                hour = at.astimezone(self.tz).hour
                rush = hour in (7, 8, 17, 18, 19)
                body.update(metric="speed_kmh", value=round(max(2.0, rng.gauss(14 if rush else 32, 8)), 1))
        elif kind == "water_meter":
            hours = rng.uniform(0, 6) if r < 0.97 else rng.uniform(12, 40)
            body.update(metric="hours_since_use", value=round(hours, 1))
        elif kind == "hydrant":
            body.update(metric="pressure_mpa", value=round(rng.gauss(0.32, 0.04) if r < 0.97 else rng.uniform(0.0, 0.13), 3))
        elif kind == "sos":
            body["event"] = "sos" if r < 0.4 else "low_battery" if r < 0.7 else "restore"
        elif kind == "fall":
            body["event"] = "fall" if r < 0.4 else "low_battery" if r < 0.7 else "restore"
        else:  # street_light
            body["event"] = rng.choice(("lamp_out", "fault", "restore", "restore"))
        topic = f"{self.prefix}/sensor/{kind}/{device.device_id}"
        payload = orjson.dumps(body)
        if kind == "smoke" and body["event"] == "alarm" and self._repeat is None:
            self._repeat = (topic, payload)
        return SimMessage(at, "mqtt", topic, payload)

    def _report_text(self, at: datetime) -> tuple[str, str, str]:
        rng = self.rng
        if self.raining(at) and rng.random() < 0.5:
            category, text = rng.choice(RAIN_REPORTS)
        elif self.noisy_evening(at) and rng.random() < 0.4:
            category, text = rng.choice(NOISE_REPORTS)
        else:
            category, text = rng.choice(REPORTS[rng.choice(sorted(REPORTS))])
        place = rng.choice(self.places)
        return category, text.format(p=place), place

    def _grid(self, at: datetime) -> SimMessage:
        rng = self.rng
        self._seq += 1
        grid = rng.choice(self.grids)
        area = self.cfg.area_by_code.get(grid)
        category, text, _ = self._report_text(at)
        body: dict = {
            "report_id": f"GR{self.seed % 10000:04d}-{self._seq:07d}",
            "reporter": f"{rng.choice(SURNAMES)}{rng.choice('建国秀英志强丽华伟敏静军')}",
            "text": text,
            "ts": self._ts(at),
        }
        if rng.random() < 0.7:
            body["category"] = category
        if area is not None and rng.random() < 0.8:
            body["lat"] = round(area.centroid[0] + rng.uniform(-0.0015, 0.0015), 6)
            body["lon"] = round(area.centroid[1] + rng.uniform(-0.0015, 0.0015), 6)
        if rng.random() < 0.3:
            body["photo_url"] = f"https://example.invalid/grid/{body['report_id']}.jpg"
        return SimMessage(at, "mqtt", f"{self.prefix}/grid/{grid}/report", orjson.dumps(body))

    def _request(self, at: datetime) -> dict:
        rng = self.rng
        self._seq += 1
        if self._open_requests and rng.random() < 0.2:
            old = self._open_requests.pop(rng.randrange(len(self._open_requests)))
            status, note = rng.choice(UPDATE_NOTES)
            return {**old, "status": status, "status_notes": note, "updated_datetime": self._ts(at)}
        category, text, place = self._report_text(at)
        request: dict[str, object] = {
            "service_request_id": f"12345-{at.astimezone(self.tz):%Y%m%d}-{self._seq:06d}",
            "status": "open",
            "service_name": category,
            "description": text,
            "requested_datetime": self._ts(at),
            "updated_datetime": self._ts(at),
            "address": f"成都市成华区{place}",
        }
        grid = self.cfg.area_by_code.get(rng.choice(self.grids))
        if grid is not None and rng.random() < 0.7:
            request["lat"] = round(grid.centroid[0] + rng.uniform(-0.001, 0.001), 6)
            request["long"] = round(grid.centroid[1] + rng.uniform(-0.001, 0.001), 6)
        self._open_requests.append(request)
        del self._open_requests[:-200]
        return request

    def _flush_hotline(self, at: datetime) -> SimMessage:
        requests, self._hotline = self._hotline, []
        self._files += 1
        stem = f"sim-{at.astimezone(self.tz):%Y%m%d-%H%M%S}-{self._files:05d}"
        if self._files % 4:
            return SimMessage(at, "file", f"{stem}.json", orjson.dumps(requests))
        buf = io.StringIO()
        columns = ["service_request_id", "requested_datetime", "updated_datetime", "status", "status_notes",
                   "service_name", "description", "address", "lat", "long"]
        writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(requests)
        encoding = "gbk" if self._files % 8 == 0 else "utf-8"
        return SimMessage(at, "file", f"{stem}.csv", buf.getvalue().encode(encoding, errors="replace"))

    def _malformed(self, at: datetime) -> SimMessage:
        """One broken message, of a kind the dead-letter table must show."""
        rng = self.rng
        kind = rng.choice(self.kinds)
        device = rng.choice(self.by_kind[kind]).device_id
        topic = f"{self.prefix}/sensor/{kind}/{device}"
        ts = self._ts(at)
        variant = rng.randrange(6)
        if variant == 0:
            payload = b'{"ts": "' + ts.encode() + b'", "value": 1'  # truncated JSON
        elif variant == 1:
            payload = b'{"ts": "' + ts.encode() + b'", "event": "\xff\xfealarm"}'  # not UTF-8
        elif variant == 2:
            payload = orjson.dumps({"ts": ts, "value": "high"})  # wrong type
        elif variant == 3:
            payload = orjson.dumps({"value": 1.0})  # missing ts
        elif variant == 4:
            topic = f"{self.prefix}/sensor/{kind}/UNREG-{rng.randrange(1000):03d}"  # unknown device
            payload = orjson.dumps({"ts": ts, "event": "alarm"})
        else:
            topic = f"{self.prefix}/grid/510108999999999/report"  # unknown grid
            payload = orjson.dumps({"report_id": f"BAD-{rng.randrange(10**6)}", "reporter": "测试", "text": "测试",
                                    "ts": ts})
        return SimMessage(at, "mqtt", topic, payload)


class Simulator:
    """Plays a Scenario in real time through the broker and the drop folder (a Source for health)."""

    def __init__(self, cfg: Config, registry, *, source_id: str = "simulator", name: str = "演示模拟器",
                 url: str | None = None, drop_folder: Path | None = None,
                 clock: Callable[[], datetime] = utc_now, events_per_minute: float | None = None):
        sim = cfg.simulator
        self.source_id = source_id
        self.name = name
        self.cfg = cfg
        self.scenario = Scenario(cfg, registry, seed=sim.seed, malformed_ratio=sim.malformed_ratio,
                                 events_per_minute=events_per_minute or sim.events_per_minute)
        self.address = parse_url(url or cfg.mqtt.url)
        self.drop_folder = drop_folder
        self._clock = clock
        self.meter = Meter(clock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                   client_id=f"{cfg.mqtt.client_id}-simulator", protocol=mqtt.MQTTv311)
        if cfg.mqtt.username:
            self._client.username_pw_set(cfg.mqtt.username, cfg.mqtt.password)
        if self.address.tls:
            self._client.tls_set()
        self._client.max_queued_messages_set(10_000)

    def set_rate(self, events_per_minute: float) -> None:
        """Change the pace from the next minute on (the admin page or a test may call it)."""
        self.scenario.rate = max(0.1, float(events_per_minute))

    def start(self) -> None:
        self._client.connect_async(self.address.host, self.address.port, 30)
        self._client.loop_start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._client.disconnect()
        self._client.loop_stop()

    def health(self, now: datetime | None = None) -> SourceHealth:
        state = "running" if self._thread is not None and self._thread.is_alive() else "stopped"
        return self.meter.health(self.source_id, self.name, state, now)

    def _run(self) -> None:
        t = self._clock()
        while not self._stop.is_set():
            end = t + timedelta(seconds=10)
            for msg in self.scenario.generate(t, end, flush=False):
                delay = (msg.at - self._clock()).total_seconds()
                if delay > 0 and self._stop.wait(delay):
                    return
                try:
                    self._send(msg)
                except Exception:  # noqa: BLE001 - the demo goes on
                    log.exception("simulator could not send to %s", msg.target)
            t = end

    def _send(self, msg: SimMessage) -> None:
        if msg.channel == "mqtt":
            self._client.publish(msg.target, msg.payload, qos=1)
        elif self.drop_folder is not None:
            self.drop_folder.mkdir(parents=True, exist_ok=True)
            tmp = self.drop_folder / f"{msg.target}.tmp"
            tmp.write_bytes(msg.payload)
            os.replace(tmp, self.drop_folder / msg.target)  # appear whole, never half-written
        else:
            return
        self.meter.message()
