"""系统管理 /admin: source health and dead letters, rules (validate/explain/backtest), suppressions, users, audit.

Every mutation goes through a service function that checks the role itself (ops_center.service.users, and
rules.suppress behind an admin check here); raw payloads and user text are always rendered as text.
"""

from __future__ import annotations

import json
from datetime import timedelta

import dash
import dash_mantine_components as dmc
import pandas as pd
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from ingest import replay as dl_replay
from layouts import admin_catalogue, admin_models, admin_users, ids
from layouts.common import gate, local_time, shell, tapped
from ops_center.core.domains import DOMAIN_CODES, DOMAIN_NAMES, ROLE_NAMES, UNCLASSIFIED
from ops_center.core.units import unit_name
from ops_center.read import queries_admin as qa
from ops_center.read import queries_mapping
from ops_center.read.calendar_coverage import coverage
from ops_center.service.incidents import ServiceError
from ops_center.web.context import AppContext, get_context
from rules.backtest import compare, replay
from rules.engine import RuleSet
from rules.eventjson import EventInputError, event_from_dict
from rules.explain import explain_event
from rules.suppress import SuppressionError, cancel_suppression, create_suppression

dash.register_page(__name__, path="/admin", title="系统管理", name="系统管理")
admin_models.callbacks()  # Dash runs this file once per app; the 文本模型 block's callbacks come with it
admin_catalogue.callbacks()  # and the 派单目录 block's
admin_users.callbacks()  # and the 用户与角色 form's

STATE_NAMES = {"connected": "在线", "polling": "轮询中", "silent": "静默", "down": "中断", "unknown": "未知",
               "running": "运行中", "stopped": "已停止", "connecting": "连接中", "disconnected": "已断开",
               "auth_failed": "认证失败", "error": "故障", "starting": "启动中",
               "calendar_expiring": "即将到期", "calendar_expired": "已过期"}
SCOPE_NAMES = {"device": "设备", "area": "区域", "domain": "领域"}
NO_RULES = "本进程未加载规则，无法解释或回测"
EXAMPLE_EVENT = json.dumps({"source": "hotline", "text": "小区楼道有人把电动车推进电梯，存在火灾隐患",
                            "area_code": "510108002005"}, ensure_ascii=False, indent=2)


def text_table(columns: list[str], rows: list[list], empty: str = "暂无数据") -> dmc.Table:
    """A dark table whose cells are plain text (or components we build), never HTML strings."""
    body = [dmc.TableTr([dmc.TableTd(c if not isinstance(c, float) or not pd.isna(c) else "—") for c in row])
            for row in rows] or [dmc.TableTr(html.Td(empty, colSpan=len(columns)))]
    return dmc.Table([dmc.TableThead(dmc.TableTr([dmc.TableTh(c) for c in columns])), dmc.TableTbody(body)],
                     striped=True, highlightOnHover=True, withTableBorder=True, fz="sm")


def _t(value, tz: str, fmt: str = "%m-%d %H:%M:%S") -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return local_time(stamp.to_pydatetime(), tz, fmt)


def panel(*children) -> dmc.Stack:
    return dmc.Stack(list(children), gap="sm", p="sm")


def layout(**_: object):
    user, stub = gate("admin")
    if stub is not None:
        return stub
    cfg = get_context().cfg
    tabs = dmc.Tabs(
        [
            dmc.TabsList([dmc.TabsTab(label, value=v) for v, label in (
                ("sources", "数据源与死信"), ("rules", "规则"), ("suppressions", "屏蔽"), ("users", "用户与角色"),
                ("audit", "审计日志"), ("models", "文本模型"), ("catalogue", "派单目录"))]),
            dmc.TabsPanel(panel(
                dmc.Group([dmc.Title("数据源健康", order=5), dmc.Button("刷新", id=ids.ADMIN_REFRESH, size="xs",
                                                                    variant="light")]),
                html.Div(id=ids.ADMIN_SOURCES),
                dmc.Title("死信（无法解析或无法定位的输入，保留原始字节）", order=5),
                dmc.ScrollAreaAutosize(html.Div(id=ids.ADMIN_DEAD_LETTERS), mah=300),
                html.Div(id=ids.ADMIN_DEAD_LETTER_META),
                dmc.SimpleGrid([
                    dmc.Stack([dmc.Text("原始内容（文本，转义显示）", size="sm", c="dimmed"),
                               html.Pre(id=ids.ADMIN_DEAD_LETTER_TEXT, style=PRE)]),
                    dmc.Stack([dmc.Text("十六进制", size="sm", c="dimmed"),
                               html.Pre(id=ids.ADMIN_DEAD_LETTER_HEX, style=PRE)]),
                ], cols=2),
                *unmapped_block(),
                dead_letter_actions(),
            ), value="sources"),
            dmc.TabsPanel(panel(
                dmc.Group([dmc.Button("校验规则文件", id=ids.ADMIN_RULES_VALIDATE, size="xs"),
                           html.Div(id=ids.ADMIN_RULES_INFO)]),
                html.Pre(id=ids.ADMIN_RULES_STATUS, style=PRE),
                dmc.ScrollAreaAutosize(html.Div(id=ids.ADMIN_RULES_TABLE), mah=320),
                dmc.Title("解释：输入一个事件（JSON），查看哪些规则匹配及原因", order=5),
                dmc.Textarea(id=ids.ADMIN_EXPLAIN_INPUT, value=EXAMPLE_EVENT, autosize=True, minRows=4,
                             styles={"input": {"fontFamily": "monospace"}}),
                dmc.Button("解释", id=ids.ADMIN_EXPLAIN_BUTTON, size="xs", w=100),
                html.Div(id=ids.ADMIN_EXPLAIN_RESULT),
                dmc.Title("回测：用当前规则重放已存储的事件（不影响在办事件）", order=5),
                dmc.Group([dmc.Select(id=ids.ADMIN_BACKTEST_DAYS, value="1", allowDeselect=False, w=140,
                                      data=[{"value": d, "label": f"最近 {d} 天"} for d in ("1", "7", "30")]),
                           dmc.Button("开始回测", id=ids.ADMIN_BACKTEST_BUTTON, size="xs")]),
                html.Div(id=ids.ADMIN_BACKTEST_RESULT),
            ), value="rules"),
            dmc.TabsPanel(panel(
                dmc.Group([
                    dmc.Select(id=ids.ADMIN_SUP_SCOPE, label="范围", value="area", allowDeselect=False, w=110,
                               data=[{"value": k, "label": v} for k, v in SCOPE_NAMES.items()]),
                    dmc.TextInput(id=ids.ADMIN_SUP_VALUE, label="值（设备编号/区域编码/领域代码）", w=260),
                    dmc.NumberInput(id=ids.ADMIN_SUP_HOURS, label="时长（小时）", value=2, min=0.25, max=24 * 30,
                                    step=0.5, w=130),
                    dmc.TextInput(id=ids.ADMIN_SUP_REASON, label="原因", w=260),
                    dmc.Button("新建屏蔽", id=ids.ADMIN_SUP_CREATE),
                ], align="flex-end"),
                dmc.Group([dmc.NumberInput(id=ids.ADMIN_SUP_CANCEL_ID, label="屏蔽编号", min=1, w=130),
                           dmc.Button("取消屏蔽", id=ids.ADMIN_SUP_CANCEL, color="red", variant="light")],
                          align="flex-end"),
                html.Div(id=ids.ADMIN_SUP_STATUS),
                html.Div(id=ids.ADMIN_SUPPRESSIONS),
            ), value="suppressions"),
            dmc.TabsPanel(admin_users.panel(cfg), value="users"),
            dmc.TabsPanel(panel(
                dmc.TextInput(id=ids.ADMIN_AUDIT_ACTOR, label="按操作人筛选", w=200, debounce=400),
                dmc.ScrollAreaAutosize(html.Div(id=ids.ADMIN_AUDIT), mah=520),
            ), value="audit"),
            dmc.TabsPanel(admin_models.panel(), value="models"),
            dmc.TabsPanel(admin_catalogue.panel(), value="catalogue"),
        ],
        id=ids.ADMIN_TABS, value="sources",
    )
    return shell("admin", user, calendar_notice(cfg), tabs)


def calendar_notice(cfg) -> dmc.Alert | None:
    """Shown on every admin visit until next year's 放假调休 dates are in config (ops_center/read/calendar_coverage.py)."""
    cov = coverage(cfg, get_context().clock())
    if cov.state == "ok":
        return None
    title = "工作日历已过期" if cov.state == "expired" else "工作日历即将到期"
    return dmc.Alert(cov.message_zh(), title=title, color="red" if cov.state == "expired" else "yellow",
                     id=ids.ADMIN_CALENDAR_NOTICE, mb="sm")


PRE = {"whiteSpace": "pre-wrap", "wordBreak": "break-all", "background": "#0b1220", "border": "1px solid #24314f",
       "padding": 8, "minHeight": 60, "maxHeight": 320, "overflow": "auto", "fontSize": 12, "margin": 0}


# --- lists ----------------------------------------------------------------------------------


@callback(
    Output(ids.ADMIN_SOURCES, "children"),
    Output(ids.ADMIN_DEAD_LETTERS, "children"),
    Output(ids.ADMIN_RULES_TABLE, "children"),
    Output(ids.ADMIN_RULES_INFO, "children"),
    Output(ids.ADMIN_SUPPRESSIONS, "children"),
    Output(ids.ADMIN_USERS, "children"),
    Output(ids.ADMIN_AUDIT, "children"),
    Input(ids.ADMIN_REFRESH, "n_clicks"),
    Input(ids.ADMIN_SUP_STATUS, "children"),
    Input(ids.ADMIN_USER_STATUS, "children"),
    Input(ids.ADMIN_AUDIT_ACTOR, "value"),
)
def lists(_refresh, _sup, _user, actor):
    if gate("admin")[0] is None:
        return (no_update,) * 7
    app = get_context()
    tz = app.cfg.site.timezone
    src = qa.sources(app.cfg, app.store, app.health())
    sources = text_table(
        ["数据源", "编号", "类型", "状态", "最近消息", "消息/分钟", "死信/分钟", "死信（库内）"],
        [[r.name, r.source_id, SOURCE_KIND_NAMES.get(r.kind, r.kind), STATE_NAMES.get(r.state, r.state),
          _t(r.last_message_at, tz),
          f"{r.messages_per_min:.1f}", f"{r.dead_letters_per_min:.1f}", str(r.dead_letters_stored)]
         for r in src.itertuples()],
    )
    dl = qa.dead_letters(app.store)
    handled = dl_replay.states(app.store, [int(i) for i in dl["dead_letter_id"]])
    dead = text_table(
        ["编号", "接收时间", "数据源", "主题", "原因", "说明", "字节", "处理", ""],
        [[str(r.dead_letter_id), _t(r.received_at, tz), r.source_id, r.topic or "", reason_name(r.reason),
          (r.detail or "")[:120], str(int(r.size or 0)), DL_STATE_NAMES.get(handled.get(int(r.dead_letter_id)), "待处理"),
          dmc.Button("查看", id={"type": ids.ADMIN_DL_VIEW, "id": int(r.dead_letter_id)}, size="compact-xs",
                     variant="light")]
         for r in dl.itertuples()],
        empty="暂无死信",
    )
    holder = app.rules
    rules = qa.rules_table(holder.current if holder else None)
    rule_rows = text_table(
        ["规则", "文件:行", "领域", "类别", "等级", "层级", "部门", "说明"],
        [[r.rule_id, f"{r.file}:{r.line}", DOMAIN_NAMES.get(r.domain, r.domain), r.category, r.severity, r.level,
          r.department or "", r.description or ""] for r in rules.itertuples()],
        empty="未加载规则",
    )
    info = (f"运行版本 v{holder.version if holder else 0}，{len(rules)} 条规则"
            + (f"；最近一次修改被拒绝：{holder.last_error}" if holder and holder.last_error else ""))
    sup = qa.suppressions(app.store, now=app.clock(), include_past=True)
    sups = text_table(
        ["编号", "范围", "值", "开始", "结束", "原因", "创建人", "状态"],
        [[str(r.suppression_id), SCOPE_NAMES.get(r.scope, r.scope), r.value, _t(r.starts_at, tz, "%m-%d %H:%M"),
          _t(r.ends_at, tz, "%m-%d %H:%M"), r.reason or "", r.created_by, SUP_STATE_NAMES.get(r.state, r.state)]
         for r in sup.itertuples()],
        empty="暂无屏蔽",
    )
    us = qa.users(app.store)
    user_rows = text_table(
        ["用户名", "姓名", "角色", "所属单位", "辖区", "状态", "更新时间"],
        [[r.username, r.name, f"{ROLE_NAMES.get(r.role, r.role)}（{r.role}）", unit_name(app.cfg, r.unit), r.scope,
          "启用" if r.active else "停用", _t(r.updated_at, tz)] for r in us.itertuples()],
    )
    log = qa.audit_log(app.store, actor=(actor or "").strip() or None)
    audit = text_table(
        ["时间", "操作人", "操作", "对象", "详情"],
        [[_t(r.ts, tz), r.actor, audit_action_name(r.action), r.target or "", audit_detail(r.detail, tz)[:300]]
         for r in log.itertuples()],
        empty="暂无审计记录",
    )
    return sources, dead, rule_rows, info, sups, user_rows, audit


@callback(
    Output(ids.ADMIN_DEAD_LETTER_META, "children"),
    Output(ids.ADMIN_DEAD_LETTER_TEXT, "children"),
    Output(ids.ADMIN_DEAD_LETTER_HEX, "children"),
    Input({"type": ids.ADMIN_DL_VIEW, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def inspect(_clicks):
    """The raw bytes of one dead letter as escaped text and hex: shown, never interpreted."""
    trig = ctx.triggered_id
    if gate("admin")[0] is None or not tapped(trig):
        return no_update, no_update, no_update
    app = get_context()
    dl = qa.dead_letter(app.store, int(trig["id"]))
    if dl is None:
        return "该死信不存在", "", ""
    meta = (f"死信 #{dl.dead_letter_id} · {local_time(dl.received_at, app.cfg.site.timezone, '%Y-%m-%d %H:%M:%S')}"
            f" · {dl.source_id} · {dl.topic or '—'} · 原因：{dl.reason} {dl.detail or ''} · {len(dl.raw)} 字节")
    return meta, qa.escaped_text(dl.raw), qa.hex_dump(dl.raw)


# --- rules ----------------------------------------------------------------------------------


@callback(
    Output(ids.ADMIN_RULES_STATUS, "children"),
    Input(ids.ADMIN_RULES_VALIDATE, "n_clicks"),
    prevent_initial_call=True,
)
def validate(_n):
    if gate("admin")[0] is None:
        return no_update

    app = get_context()
    paths = app.rules.paths if app.rules else [app.cfg.path_of(p) for p in app.cfg.rules.paths]
    try:
        fresh = RuleSet.load(paths, app.cfg)
    except Exception as exc:  # noqa: BLE001 - any load failure is the answer the admin asked for
        return f"校验失败：{exc}"
    return f"校验通过：{len(fresh.rules)} 条规则，{len(fresh.amplifiers)} 条联动升级规则（{len(fresh.files)} 个文件）"


@callback(
    Output(ids.ADMIN_EXPLAIN_RESULT, "children"),
    Input(ids.ADMIN_EXPLAIN_BUTTON, "n_clicks"),
    State(ids.ADMIN_EXPLAIN_INPUT, "value"),
    prevent_initial_call=True,
)
def explain(_n, text):
    if gate("admin")[0] is None:
        return no_update

    app = get_context()
    try:
        event = event_from_dict(json.loads(text or ""), app.clock())
    except ValueError as exc:  # JSONDecodeError and EventInputError are both ValueErrors
        kind = "事件格式错误" if isinstance(exc, EventInputError) else "JSON 解析失败"
        return dmc.Alert(f"{kind}：{exc}", color="red")
    if app.rules is None:
        return dmc.Alert(NO_RULES, color="red")
    rows = explain_event(app.rules.current, event)
    shown = [r for r in rows if r.get("matched") or r.get("selected") or r.get("type") == "model"] or rows[:20]
    return text_table(
        ["结果", "类型", "规则", "文件:行", "原因", "说明"],
        [["✔ 采用" if r.get("selected") else ("匹配" if r.get("matched") else "不匹配"),
          EXPLAIN_TYPE_NAMES.get(r.get("type", ""), r.get("type", "")),
          r.get("rule_id", ""), f"{r.get('file') or '-'}:{r.get('line') or '-'}", r.get("reason", ""),
          r.get("outcome", "")] for r in shown],
        empty="没有规则匹配",
    )


@callback(
    Output(ids.ADMIN_BACKTEST_RESULT, "children"),
    Input(ids.ADMIN_BACKTEST_BUTTON, "n_clicks"),
    State(ids.ADMIN_BACKTEST_DAYS, "value"),
    prevent_initial_call=True,
)
def backtest(_n, days):
    if gate("admin")[0] is None:
        return no_update

    app = get_context()
    if app.rules is None:
        return dmc.Alert(NO_RULES, color="red")
    end = app.clock()
    events, actual = qa.backtest_inputs(app.store, end - timedelta(days=int(days or 1)), end)
    summary = replay(events, app.rules.current)
    report = compare(events, summary, actual)
    head = (f"重放 {summary.events} 条事件（{summary.elapsed_s:.2f} 秒）：将创建 {summary.created} 个事件，"
            f"去重合并 {summary.bumped}，跨源关联 {summary.correlated}，恢复 {summary.cleared}；"
            f"规则变化的事件 {report['changed_events']} 条")
    return dmc.Stack([dmc.Text(head, size="sm"), text_table(
        ["领域", "回测将创建", "实际", "差异"],
        [[DOMAIN_NAMES.get(r["domain"], r["domain"]), str(r["would_create"]), str(r["actual"]),
          f"{r['difference']:+d}"] for r in report["per_domain"]],
        empty="该时段没有事件",
    )])


# --- suppressions --------------------------------------------------------------------


@callback(
    Output(ids.ADMIN_SUP_STATUS, "children"),
    Input(ids.ADMIN_SUP_CREATE, "n_clicks"),
    Input(ids.ADMIN_SUP_CANCEL, "n_clicks"),
    State(ids.ADMIN_SUP_SCOPE, "value"),
    State(ids.ADMIN_SUP_VALUE, "value"),
    State(ids.ADMIN_SUP_HOURS, "value"),
    State(ids.ADMIN_SUP_REASON, "value"),
    State(ids.ADMIN_SUP_CANCEL_ID, "value"),
    prevent_initial_call=True,
)
def suppression(_create, _cancel, scope, value, hours, reason, cancel_id):
    user = gate("admin")[0]
    if user is None or user.role != "admin":
        return dmc.Alert("仅管理员可以管理屏蔽", color="red")

    app = get_context()
    now = app.clock()
    try:
        if ctx.triggered_id == ids.ADMIN_SUP_CANCEL:
            if not cancel_id:
                return dmc.Alert("请填写要取消的屏蔽编号", color="yellow")
            cancel_suppression(app.store, user.actor(), int(cancel_id), now=now)
            return dmc.Alert(f"已取消屏蔽 #{int(cancel_id)}", color="green")
        problem = suppression_value_problem(app, scope, (value or "").strip())
        if problem:
            return dmc.Alert(problem, color="red")
        sid = create_suppression(app.store, user.actor(), scope, (value or "").strip(), now,
                                 now + timedelta(hours=float(hours or 0)), (reason or "").strip() or None, now=now)
        return dmc.Alert(f"已新建屏蔽 #{sid}", color="green")
    except (SuppressionError, ValueError) as exc:
        return dmc.Alert(f"操作失败：{exc}", color="red")
    except ServiceError as exc:
        return dmc.Alert(exc.user_message, color="red")


# --- unmapped source category codes (issue 12): what an admin could add to a source's category map ---


def unmapped_block() -> list:
    return [dmc.Title("未映射的来源分类（按次数，可加入该数据源的分类映射文件）", order=5),
            dmc.ScrollAreaAutosize(html.Div(id=ids.ADMIN_UNMAPPED), mah=260)]


@callback(Output(ids.ADMIN_UNMAPPED, "children"), Input(ids.ADMIN_REFRESH, "n_clicks"))
def unmapped(_refresh):
    if gate("admin")[0] is None:
        return no_update
    app = get_context()
    df = queries_mapping.unmapped_codes(app.store, app.clock())
    return text_table(["数据源", "来源分类代码", "次数", "最近出现"],
                      [[r.source_id, r.code, str(int(r.count)), _t(r.last_seen, app.cfg.site.timezone)]
                       for r in df.itertuples()], empty="没有未映射的分类代码")


# --- dead-letter replay and discard, Chinese labels (issue 16) --------------------------------------

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
EXPLAIN_TYPE_NAMES = {"rule": "分类规则", "amplify": "升级规则", "fallback": "待分类兜底"}
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


def suppression_value_problem(app: AppContext, scope: str, value: str) -> str | None:
    """A suppression for an area, domain or device that does not exist is refused, not silently useless."""
    if not value:
        return "请填写屏蔽的值"
    if scope == "area" and value not in app.cfg.area_by_code:
        return f"未知区域编码：{value}（须为配置中的区/街道/社区/网格编码）"
    if scope == "domain" and value not in (*DOMAIN_CODES, UNCLASSIFIED):
        return f"未知领域代码：{value}（可选：{'、'.join(DOMAIN_CODES)}）"
    if scope == "device" and app.registry is not None and value not in app.registry:
        return f"未登记的设备编号：{value}"
    return None


def dead_letter_actions() -> dmc.Stack:
    """Replay (after fixing a mapping) or discard the dead letter open in the inspector; both audited."""
    return dmc.Stack([
        dcc.Store(id=ids.ADMIN_DL_SELECTED),
        dmc.Group([
            dmc.Button("重放（按当前配置重新解析并入库）", id=ids.ADMIN_DL_REPLAY, size="xs", disabled=True),
            dmc.TextInput(id=ids.ADMIN_DL_NOTE, placeholder="丢弃原因（必填）", w=260, size="xs"),
            dmc.Button("丢弃", id=ids.ADMIN_DL_DISCARD, size="xs", color="red", variant="light", disabled=True),
        ], align="flex-end"),
        html.Div(id=ids.ADMIN_DL_STATUS),
    ], gap=4)


@callback(
    Output(ids.ADMIN_DL_SELECTED, "data"),
    Output(ids.ADMIN_DL_REPLAY, "disabled"),
    Output(ids.ADMIN_DL_DISCARD, "disabled"),
    Input({"type": ids.ADMIN_DL_VIEW, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def select_dead_letter(_clicks):
    """The dead letter opened in the inspector is the one the replay and discard buttons act on."""
    trig = ctx.triggered_id
    if gate("admin")[0] is None or not tapped(trig):
        return no_update, no_update, no_update
    return int(trig["id"]), False, False


@callback(
    Output(ids.ADMIN_DL_STATUS, "children"),
    Output(ids.ADMIN_REFRESH, "n_clicks"),
    Input(ids.ADMIN_DL_REPLAY, "n_clicks"),
    Input(ids.ADMIN_DL_DISCARD, "n_clicks"),
    State(ids.ADMIN_DL_SELECTED, "data"),
    State(ids.ADMIN_DL_NOTE, "value"),
    State(ids.ADMIN_REFRESH, "n_clicks"),
    prevent_initial_call=True,
)
def act_on_dead_letter(_replay, _discard, selected, note, refreshed):
    user = gate("admin")[0]
    if user is None or user.role != "admin":
        return dmc.Alert("仅管理员可以处理死信", color="red"), no_update
    if not selected:
        return dmc.Alert("请先在列表中点“查看”选择一条死信", color="yellow"), no_update
    app = get_context()
    if ctx.triggered_id == ids.ADMIN_DL_REPLAY:
        outcome = dl_replay.replay(app, int(selected), user.username, app.clock())
    else:
        outcome = dl_replay.discard(app.store, int(selected), user.username, note or "", app.clock())
    return dmc.Alert(outcome.message, color="green" if outcome.ok else "red"), (refreshed or 0) + 1
