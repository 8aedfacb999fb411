"""The admin page's Chinese labels for source states, dead-letter reasons, suppressions and audit entries."""

from __future__ import annotations

import json

import pandas as pd

from ingest import replay as dl_replay

STATE_NAMES = {"connected": "在线", "polling": "轮询中", "silent": "静默", "down": "中断", "unknown": "未知",
               "running": "运行中", "stopped": "已停止", "connecting": "连接中", "disconnected": "已断开",
               "auth_failed": "认证失败", "error": "故障", "starting": "启动中",
               "calendar_expiring": "即将到期", "calendar_expired": "已过期"}
SCOPE_NAMES = {"device": "设备", "area": "区域", "domain": "领域"}
SOURCE_KIND_NAMES = {"mqtt_sensor": "MQTT 物联感知", "mqtt_grid": "MQTT 网格员上报", "drop_folder": "文件投递目录",
                     "open311": "Open311 轮询", "outbound": "对外推送"}
REASON_NAMES = {
    "oversized": "超出大小上限", "invalid_utf8": "非 UTF-8 编码", "malformed_json": "JSON 格式错误",
    "wrong_type": "字段类型错误", "missing_field": "缺少必填字段", "invalid_value": "字段值无效",
    "bad_topic": "主题格式错误", "unknown_kind": "未知设备类型", "unknown_device": "未登记设备",
    "kind_mismatch": "设备类型不符", "unknown_grid": "未知网格编码", "invalid_encoding": "编码无法识别",
    "unsupported_file": "不支持的文件类型", "malformed_csv": "CSV 格式错误", "internal_error": "内部处理错误",
    "outside_area": "位置在辖区外", "implausible_time": "时间不合理",
}
DL_STATE_NAMES = {dl_replay.REPLAYED: "已重放", dl_replay.DISCARDED: "已丢弃", dl_replay.REPLAY_FAILED: "重放失败"}
SUP_STATE_NAMES = {"active": "生效中", "scheduled": "待生效", "expired": "已过期", "cancelled": "已取消",
                   "past": "已结束", "future": "待生效"}
AUDIT_ACTION_NAMES = {
    "login": "登录", "logout": "退出", "login_failed": "登录失败", "user.create": "新建用户", "user.update": "修改用户",
    "user.activate": "启用用户", "user.deactivate": "停用用户", "user.reset_password": "重置密码",
    "suppression.create": "新建屏蔽", "suppression.cancel": "取消屏蔽", "catalogue.publish": "发布派单目录", dl_replay.REPLAYED: "重放死信",
    dl_replay.DISCARDED: "丢弃死信", dl_replay.REPLAY_FAILED: "重放死信失败",
}


def reason_name(code: str | None) -> str:
    return f"{REASON_NAMES[code]}（{code}）" if code in REASON_NAMES else (code or "")


def audit_action_name(action: str) -> str:
    if action.startswith("denied:"):
        return "拒绝：" + audit_action_name(action.split(":", 1)[1])
    return AUDIT_ACTION_NAMES.get(action, action)


def audit_detail(detail: str, tz: str) -> str:
    """An audit entry's JSON as 'key：value' text, times in site time (the rest of the UI's clock)."""
    try:
        data = json.loads(detail) if detail else {}
    except ValueError:
        return detail
    if not isinstance(data, dict):
        return detail
    parts = []
    for key, value in data.items():
        if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and value[10:11] in ("T", " "):
            try:
                stamp = pd.Timestamp(value)
                stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
                value = stamp.tz_convert(tz).strftime("%Y-%m-%d %H:%M:%S")
            except ValueError:
                pass
        if isinstance(value, (list, dict)):  # e.g. a catalogue publish's changed rows: JSON, not Python repr
            value = json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}：{value}")
    return "；".join(parts)
