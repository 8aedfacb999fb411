"""系统管理 /admin: source health and dead letters, rules (validate/explain/backtest), suppressions, users, audit.

Every mutation goes through a service function that checks the role itself (ops_center.users, and
rules.suppress behind an admin check here); raw payloads and user text are always rendered as text.
"""

from __future__ import annotations

import json
from datetime import timedelta

import dash
import dash_mantine_components as dmc
import pandas as pd
from dash import ALL, Input, Output, State, callback, ctx, html, no_update

from layouts import admin_models, ids
from layouts.common import gate, local_time, shell
from ops_center import queries_admin as qa
from ops_center import queries_mapping
from ops_center import users as user_admin
from ops_center.calendar_coverage import coverage
from ops_center.context import get_context
from ops_center.domains import DOMAIN_NAMES, ROLE_NAMES, ROLES
from ops_center.incidents import Actor, ServiceError

dash.register_page(__name__, path="/admin", title="系统管理", name="系统管理")
admin_models.callbacks()  # Dash runs this file once per app; the 文本模型 block's callbacks come with it

STATE_NAMES = {"connected": "在线", "polling": "轮询中", "silent": "静默", "down": "中断", "unknown": "未知",
               "calendar_expiring": "即将到期", "calendar_expired": "已过期"}
SCOPE_NAMES = {"device": "设备", "area": "区域", "domain": "领域"}
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
                ("audit", "审计日志"), ("models", "文本模型"))]),
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
            dmc.TabsPanel(panel(
                dmc.Group([
                    dmc.TextInput(id=ids.ADMIN_USER_NAME, label="用户名", w=150),
                    dmc.TextInput(id=ids.ADMIN_USER_DISPLAY, label="姓名", w=150),
                    dmc.Select(id=ids.ADMIN_USER_ROLE, label="角色", value="viewer", allowDeselect=False, w=150,
                               data=[{"value": r, "label": f"{ROLE_NAMES[r]}（{r}）"} for r in ROLES]),
                    dmc.TextInput(id=ids.ADMIN_USER_SCOPE, label="辖区编码", value=cfg.site.default_area, w=160),
                    dmc.PasswordInput(id=ids.ADMIN_USER_PASSWORD, label="密码（新建/重置）", w=180),
                ], align="flex-end"),
                dmc.Group([dmc.Button("新建用户", id=ids.ADMIN_USER_CREATE, size="xs"),
                           dmc.Button("修改角色/辖区/姓名", id=ids.ADMIN_USER_UPDATE, size="xs", variant="light"),
                           dmc.Button("重置密码", id=ids.ADMIN_USER_RESET, size="xs", variant="light"),
                           dmc.Button("停用", id=ids.ADMIN_USER_DEACTIVATE, size="xs", color="red", variant="light"),
                           dmc.Button("启用", id=ids.ADMIN_USER_ACTIVATE, size="xs", variant="light")]),
                html.Div(id=ids.ADMIN_USER_STATUS),
                html.Div(id=ids.ADMIN_USERS),
            ), value="users"),
            dmc.TabsPanel(panel(
                dmc.TextInput(id=ids.ADMIN_AUDIT_ACTOR, label="按操作人筛选", w=200, debounce=400),
                dmc.ScrollAreaAutosize(html.Div(id=ids.ADMIN_AUDIT), mah=520),
            ), value="audit"),
            dmc.TabsPanel(admin_models.panel(), value="models"),
        ],
        id=ids.ADMIN_TABS, value="sources",
    )
    return shell("admin", user, calendar_notice(cfg), tabs)


def calendar_notice(cfg) -> dmc.Alert | None:
    """Shown on every admin visit until next year's 放假调休 dates are in config (ops_center/calendar_coverage.py)."""
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
    src = qa.sources(app)
    sources = text_table(
        ["数据源", "编号", "类型", "状态", "最近消息", "消息/分钟", "死信/分钟", "死信（库内）"],
        [[r.name, r.source_id, r.kind, STATE_NAMES.get(r.state, r.state), _t(r.last_message_at, tz),
          f"{r.messages_per_min:.1f}", f"{r.dead_letters_per_min:.1f}", str(r.dead_letters_stored)]
         for r in src.itertuples()],
    )
    dl = qa.dead_letters(app.store)
    dead = text_table(
        ["编号", "接收时间", "数据源", "主题", "原因", "说明", "字节", ""],
        [[str(r.dead_letter_id), _t(r.received_at, tz), r.source_id, r.topic or "", r.reason, (r.detail or "")[:120],
          str(int(r.size or 0)),
          dmc.Button("查看", id={"type": ids.ADMIN_DL_VIEW, "id": int(r.dead_letter_id)}, size="compact-xs",
                     variant="light")]
         for r in dl.itertuples()],
        empty="暂无死信",
    )
    holder = app.rules
    ruleset = getattr(holder, "current", holder)
    rules = qa.rules_table(ruleset)
    rule_rows = text_table(
        ["规则", "文件:行", "领域", "类别", "等级", "层级", "部门", "说明"],
        [[r.rule_id, f"{r.file}:{r.line}", DOMAIN_NAMES.get(r.domain, r.domain), r.category, r.severity, r.level,
          r.department or "", r.description or ""] for r in rules.itertuples()],
        empty="未加载规则",
    )
    info = (f"运行版本 v{getattr(holder, 'version', 1)}，{len(rules)} 条规则"
            + (f"；最近一次修改被拒绝：{holder.last_error}" if getattr(holder, "last_error", None) else ""))
    sup = qa.suppressions(app.store, now=app.clock(), include_past=True)
    sups = text_table(
        ["编号", "范围", "值", "开始", "结束", "原因", "创建人", "状态"],
        [[str(r.suppression_id), SCOPE_NAMES.get(r.scope, r.scope), r.value, _t(r.starts_at, tz, "%m-%d %H:%M"),
          _t(r.ends_at, tz, "%m-%d %H:%M"), r.reason or "", r.created_by, r.state] for r in sup.itertuples()],
        empty="暂无屏蔽",
    )
    us = qa.users(app.store)
    user_rows = text_table(
        ["用户名", "姓名", "角色", "辖区", "状态", "更新时间"],
        [[r.username, r.name, f"{ROLE_NAMES.get(r.role, r.role)}（{r.role}）", r.scope,
          "启用" if r.active else "停用", _t(r.updated_at, tz)] for r in us.itertuples()],
    )
    log = qa.audit_log(app.store, actor=(actor or "").strip() or None)
    audit = text_table(
        ["时间", "操作人", "操作", "对象", "详情"],
        [[_t(r.ts, tz), r.actor, r.action, r.target or "", r.detail[:300]] for r in log.itertuples()],
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
    if gate("admin")[0] is None or not isinstance(trig, dict) or not ctx.triggered[0].get("value"):
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
    from rules.engine import RuleSet

    app = get_context()
    paths = getattr(app.rules, "paths", None) or [app.cfg.path_of(p) for p in app.cfg.rules.paths]
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
    from rules.eventjson import EventInputError, event_from_dict

    app = get_context()
    try:
        event = event_from_dict(json.loads(text or ""), app.clock())
    except ValueError as exc:  # JSONDecodeError and EventInputError are both ValueErrors
        kind = "事件格式错误" if isinstance(exc, EventInputError) else "JSON 解析失败"
        return dmc.Alert(f"{kind}：{exc}", color="red")
    rows = getattr(app.rules, "current", app.rules).explain(event)
    shown = [r for r in rows if r.get("matched") or r.get("selected") or r.get("type") == "model"] or rows[:20]
    return text_table(
        ["结果", "类型", "规则", "文件:行", "原因", "说明"],
        [["✔ 采用" if r.get("selected") else ("匹配" if r.get("matched") else "不匹配"), r.get("type", ""),
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
    from rules.backtest import compare, replay

    app = get_context()
    end = app.clock()
    events, actual = qa.backtest_inputs(app.store, end - timedelta(days=int(days or 1)), end)
    summary = replay(events, getattr(app.rules, "current", app.rules))
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


# --- suppressions and users -----------------------------------------------------------------


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
    from rules.suppress import SuppressionError, cancel_suppression, create_suppression

    app = get_context()
    now = app.clock()
    try:
        if ctx.triggered_id == ids.ADMIN_SUP_CANCEL:
            if not cancel_id:
                return dmc.Alert("请填写要取消的屏蔽编号", color="yellow")
            cancel_suppression(app.store, user.actor(), int(cancel_id), now=now)
            return dmc.Alert(f"已取消屏蔽 #{int(cancel_id)}", color="green")
        sid = create_suppression(app.store, user.actor(), scope, (value or "").strip(), now,
                                 now + timedelta(hours=float(hours or 0)), (reason or "").strip() or None, now=now)
        return dmc.Alert(f"已新建屏蔽 #{sid}", color="green")
    except (SuppressionError, ValueError) as exc:
        return dmc.Alert(f"操作失败：{exc}", color="red")
    except ServiceError as exc:
        return dmc.Alert(exc.user_message, color="red")


@callback(
    Output(ids.ADMIN_USER_STATUS, "children"),
    Input(ids.ADMIN_USER_CREATE, "n_clicks"),
    Input(ids.ADMIN_USER_UPDATE, "n_clicks"),
    Input(ids.ADMIN_USER_RESET, "n_clicks"),
    Input(ids.ADMIN_USER_DEACTIVATE, "n_clicks"),
    Input(ids.ADMIN_USER_ACTIVATE, "n_clicks"),
    State(ids.ADMIN_USER_NAME, "value"),
    State(ids.ADMIN_USER_DISPLAY, "value"),
    State(ids.ADMIN_USER_ROLE, "value"),
    State(ids.ADMIN_USER_SCOPE, "value"),
    State(ids.ADMIN_USER_PASSWORD, "value"),
    prevent_initial_call=True,
)
def manage_user(_c, _u, _r, _d, _a, username, name, role, scope, password):
    """Thin: the service (ops_center.users) checks the admin role, validates and audits."""
    user = gate("admin")[0]
    if user is None:
        return no_update
    app = get_context()
    actor, now, username = Actor.of(user), app.clock(), (username or "").strip()
    trig = ctx.triggered_id
    try:
        if trig == ids.ADMIN_USER_CREATE:
            user_admin.create_user(app.store, app.cfg, actor, username=username, name=name or "", role=role,
                                   scope=(scope or "").strip(), password=password or "", now=now)
            done = f"已新建用户 {username}"
        elif trig == ids.ADMIN_USER_UPDATE:
            user_admin.update_user(app.store, app.cfg, actor, username, role=role, scope=(scope or "").strip() or None,
                                   name=(name or "").strip() or None, now=now)
            done = f"已更新用户 {username}"
        elif trig == ids.ADMIN_USER_RESET:
            user_admin.reset_password(app.store, actor, username, password or "", now=now)
            done = f"已重置 {username} 的密码"
        else:
            active = trig == ids.ADMIN_USER_ACTIVATE
            user_admin.set_active(app.store, actor, username, active, now=now)
            done = f"已{'启用' if active else '停用'}用户 {username}"
    except ServiceError as exc:
        return dmc.Alert(exc.user_message, color="red")
    return dmc.Alert(done, color="green")


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
