"""A 12345 work-order export as a real one looks: Chinese headers, site-time timestamps, long-ish texts."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HEADER = ("工单编号", "受理时间", "工单状态", "诉求类别", "诉求内容", "地址", "承办单位", "纬度", "经度")
TOPICS = (
    ("违章停车", "{road}路口机动车乱停放，堵住小区出口，请尽快处理"),
    ("垃圾满溢", "{road}垃圾桶满溢无人清运，气味很大，影响居民出行"),
    ("噪音扰民", "{road}附近夜间施工噪音扰民，已经持续好几天了"),
    ("道路积水", "{road}下雨后路面积水严重，行人无法通过"),
    ("占道经营", "{road}人行道上流动摊贩占道经营，影响通行"),
    ("井盖缺失", "{road}有一个井盖缺失，存在安全隐患，请尽快修复"),
    ("路灯不亮", "{road}一段路灯晚上不亮，走夜路很危险"),
    ("油烟扰民", "{road}底商餐馆油烟直排，楼上住户窗户都不敢开"),
)
ROADS = ("双桥路", "望平街", "建设路", "府青路", "二仙桥路", "万年场路", "猛追湾街", "东风路")
AGENCIES = ("区城管局", "区住建局", "街道办事处", "区生态环境局")


def write_hotline_csv(path: Path, rows: int, *, end: datetime, seed: int = 12345, tz: str = "Asia/Shanghai",
                      text_repeat: int = 1, prefix: str = "B", span: timedelta = timedelta(hours=1),
                      points: list[tuple[float, float]] | None = None) -> int:
    """Write `rows` distinct requests received over `span` before `end` (site time); returns bytes written.

    With `points` (e.g. grid centroids) each request gets coordinates a few hundred metres around one of
    them, as an export covering a whole district does; without, only an address.
    """
    rnd = random.Random(seed)
    zone = ZoneInfo(tz)
    start = (end - span).astimezone(zone)
    step = span / max(rows, 1)
    buf = io.StringIO(newline="")
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(HEADER)
    for i in range(rows):
        name, text = TOPICS[rnd.randrange(len(TOPICS))]
        road = ROADS[rnd.randrange(len(ROADS))]
        body = "，".join([text.format(road=road)] * text_repeat)
        at = (start + step * i).strftime("%Y-%m-%d %H:%M:%S")
        lat = lon = ""
        if points:
            base_lat, base_lon = points[rnd.randrange(len(points))]
            lat, lon = f"{base_lat + rnd.uniform(-0.003, 0.003):.6f}", f"{base_lon + rnd.uniform(-0.003, 0.003):.6f}"
        out.writerow((f"12345-{prefix}{seed}-{i:07d}", at, "open", name, body, f"成都市成华区{road}{rnd.randrange(1, 300)}号",
                      AGENCIES[rnd.randrange(len(AGENCIES))], lat, lon))
    data = buf.getvalue().encode("utf-8")
    path.write_bytes(data)
    return len(data)
