"""Every Dash component id in one place, so pages and callbacks never drift apart."""

# --- shared shell (layouts/common.py) ---
# Every id starts with its screen's prefix (wall-, console-, areas-, reports-, admin-): the server gate
# (ops_center/web/auth.py) allows a callback only to roles that may open the screen its outputs belong to.
SHELL_USER = "shell-user"
SHELL_NAV = "shell-nav"
SHELL_LOGOUT = "shell-logout"
SHELL_DENIED = "shell-denied"
LOGIN_FORM = "login-form"
LOGIN_USERNAME = "login-username"
LOGIN_PASSWORD = "login-password"
LOGIN_NEXT = "login-next"
LOGIN_SUBMIT = "login-submit"
LOGIN_ERROR = "login-error"

# --- wall (layouts/wall.py) ---
WALL_ROOT = "wall-root"
WALL_TICK = "wall-tick"
WALL_SEEN = "wall-seen"
WALL_CLOCK = "wall-clock"
WALL_TOTALS = "wall-totals"
WALL_SCOPE = "wall-scope"
WALL_MAP = "wall-map"
WALL_TILES = "wall-tiles"
WALL_LIST = "wall-list"
WALL_HEALTH = "wall-health"
WALL_HEALTH_TICK = "wall-health-tick"
WALL_HEALTH_SEEN = "wall-health-seen"
WALL_FLASH = "wall-flash"
WALL_PATROL = "wall-patrol"
WALL_PATROL_TICK = "wall-patrol-tick"
WALL_PATROL_TOGGLE = "wall-patrol-toggle"
WALL_SERVER_NOW = "wall-server-now"
WALL_P1 = "wall-p1"
WALL_SOUND = "wall-sound"
WALL_LEGEND = "wall-legend"
WALL_TREND = "wall-trend"

# --- console (layouts/console.py) ---
CONSOLE_ROOT = "console-root"
CONSOLE_GRID = "console-grid"
CONSOLE_COUNT = "console-count"
CONSOLE_TICK = "console-tick"
CONSOLE_SEEN = "console-seen"
CONSOLE_REFRESH = "console-refresh"
CONSOLE_SELECTED = "console-selected"
CONSOLE_F_DOMAIN = "console-f-domain"
CONSOLE_F_AREA = "console-f-area"
CONSOLE_F_STATUS = "console-f-status"
CONSOLE_F_SOURCE = "console-f-source"
CONSOLE_F_SEVERITY = "console-f-severity"
CONSOLE_DETAIL = "console-detail"
CONSOLE_TIMELINE = "console-timeline"
CONSOLE_RELATED = "console-related"
CONSOLE_REPORTS = "console-reports"
CONSOLE_PIN = "console-pin"
CONSOLE_MESSAGE = "console-message"
CONSOLE_DEPARTMENT = "console-department"
CONSOLE_LEVEL = "console-level"
CONSOLE_MERGE_TARGET = "console-merge-target"
CONSOLE_DOMAIN = "console-domain"
CONSOLE_CATEGORY = "console-category"
CONSOLE_NOTE = "console-note"
CONSOLE_BULK_ACK = "console-bulk-ack"
CONSOLE_SORT = "console-sort"
CONSOLE_PAGE = "console-page"
CONSOLE_RETRY = "console-retry"
CONSOLE_RETRY_BTN = "console-retry-btn"
# One button per service action: {action: id}; keyboard shortcuts in assets/ops.js click these.
CONSOLE_ACTIONS = {
    "acknowledge": "console-act-acknowledge",
    "dispatch": "console-act-dispatch",
    "escalate": "console-act-escalate",
    "resolve": "console-act-resolve",
    "close": "console-act-close",
    "verify_fail": "console-act-verify-fail",
    "reopen": "console-act-reopen",
    "false_alarm": "console-act-false-alarm",
    "merge": "console-act-merge",
    "set_domain": "console-act-set-domain",
    "add_note": "console-act-note",
    "request_extension": "console-act-request-extension",
    "decide_extension": "console-act-approve-extension",
}
CONSOLE_EXT_REJECT = "console-act-reject-extension"
CONSOLE_EXT_HOURS = "console-ext-hours"
CONSOLE_EXTENSION = "console-extension"
# work order with the responsible units (layouts/console_dispatch.py); CONSOLE_DEPARTMENT is the lead unit
CONSOLE_CO_UNITS = "console-co-units"
CONSOLE_DISPATCH_HINT = "console-dispatch-hint"
CONSOLE_WORKORDER = "console-workorder"
CONSOLE_REASSIGN_UNIT = "console-reassign-unit"
CONSOLE_REASSIGN = "console-reassign"
CONSOLE_FORCE = "console-force"
CONSOLE_REMIND = "console-remind"
CONSOLE_SUPERVISE_HOURS = "console-supervise-hours"
CONSOLE_SUPERVISE = "console-supervise"
CONSOLE_WO_MESSAGE = "console-wo-message"
CONSOLE_BULK_CONFIRM = "console-bulk-confirm"
# 回访 queue (layouts/console_revisit.py)
CONSOLE_REVISIT_OPEN = "console-revisit-open"
CONSOLE_REVISIT_SEEN = "console-revisit-seen"
CONSOLE_REVISIT_MODAL = "console-revisit-modal"
CONSOLE_REVISIT_LIST = "console-revisit-list"
CONSOLE_REVISIT_NOTE = "console-revisit-note"
CONSOLE_REVISIT_MESSAGE = "console-revisit-message"
CONSOLE_REVISIT_RATE = "console-revisit-rate"  # pattern-matching type: {"type": ..., "id": incident id, "rating": 满意…}

# --- drill-down (layouts/areas.py) ---
AREAS_URL = "areas-url"
AREAS_STATE = "areas-state"
AREAS_BREADCRUMBS = "areas-breadcrumbs"
AREAS_KPI = "areas-kpi"
AREAS_RANGE = "areas-range"
AREAS_DOMAIN = "areas-domain"
AREAS_MAP = "areas-map"
AREAS_TITLE = "areas-title"
AREAS_SUMMARY = "areas-summary"
AREAS_TABLE = "areas-table"
AREAS_RANKING = "areas-ranking"
AREAS_DOMAIN_MIX = "areas-domain-mix"
AREAS_SCROLL = "areas-scroll"
AREAS_UNITS = "areas-units"  # the responsible units' ranking (kpis.unit_kpis), colour-banded
AREAS_GOTO = "areas-goto"  # pattern-matching type: {"type": AREAS_GOTO, "code": area code}

# --- reports (layouts/reports.py) ---
REPORTS_WEEK = "reports-week"
REPORTS_AREA = "reports-area"  # the area picker: shown at a city center (the city and its districts)
REPORTS_TITLE = "reports-title"
REPORTS_OVERVIEW = "reports-overview"
REPORTS_TABLE = "reports-table"
REPORTS_STREET_CHART = "reports-street-chart"
REPORTS_DOMAIN_CHART = "reports-domain-chart"
REPORTS_XLSX_BUTTON = "reports-xlsx-button"
REPORTS_CSV_BUTTON = "reports-csv-button"
REPORTS_DOWNLOAD = "reports-download"

# --- admin (layouts/admin.py) ---
ADMIN_TABS = "admin-tabs"
ADMIN_REFRESH = "admin-refresh"
ADMIN_SOURCES = "admin-sources"
ADMIN_DEAD_LETTERS = "admin-dead-letters"
ADMIN_DEAD_LETTER_TEXT = "admin-dead-letter-text"
ADMIN_DEAD_LETTER_HEX = "admin-dead-letter-hex"
ADMIN_DEAD_LETTER_META = "admin-dead-letter-meta"
ADMIN_UNMAPPED = "admin-unmapped"  # source category codes no category map knows (issue 12)
ADMIN_DL_VIEW = "admin-dl-view"  # pattern-matching type: {"type": ADMIN_DL_VIEW, "id": dead_letter_id}
ADMIN_DL_SELECTED = "admin-dl-selected"
ADMIN_DL_NOTE = "admin-dl-note"
ADMIN_DL_REPLAY = "admin-dl-replay"
ADMIN_DL_DISCARD = "admin-dl-discard"
ADMIN_DL_STATUS = "admin-dl-status"
ADMIN_RULES_INFO = "admin-rules-info"
ADMIN_RULES_TABLE = "admin-rules-table"
ADMIN_RULES_VALIDATE = "admin-rules-validate"
ADMIN_RULES_STATUS = "admin-rules-status"
ADMIN_EXPLAIN_INPUT = "admin-explain-input"
ADMIN_EXPLAIN_BUTTON = "admin-explain-button"
ADMIN_EXPLAIN_RESULT = "admin-explain-result"
ADMIN_BACKTEST_DAYS = "admin-backtest-days"
ADMIN_BACKTEST_BUTTON = "admin-backtest-button"
ADMIN_BACKTEST_RESULT = "admin-backtest-result"
# 文本模型 tab of /admin (layouts/admin_models.py)
ADMIN_MODEL_CURRENT = "admin-model-current"
ADMIN_MODEL_VERSIONS = "admin-model-versions"
ADMIN_MODEL_SELECT = "admin-model-select"
ADMIN_MODEL_DIFF = "admin-model-diff"
ADMIN_MODEL_ADOPT = "admin-model-adopt"
ADMIN_MODEL_ROLLBACK = "admin-model-rollback"
ADMIN_MODEL_STATUS = "admin-model-status"
ADMIN_SUPPRESSIONS = "admin-suppressions"
ADMIN_SUP_SCOPE = "admin-sup-scope"
ADMIN_SUP_VALUE = "admin-sup-value"
ADMIN_SUP_HOURS = "admin-sup-hours"
ADMIN_SUP_REASON = "admin-sup-reason"
ADMIN_SUP_CREATE = "admin-sup-create"
ADMIN_SUP_CANCEL = "admin-sup-cancel"
ADMIN_SUP_CANCEL_ID = "admin-sup-cancel-id"
ADMIN_SUP_STATUS = "admin-sup-status"
ADMIN_USERS = "admin-users"
ADMIN_USER_NAME = "admin-user-username"
ADMIN_USER_DISPLAY = "admin-user-display"
ADMIN_USER_ROLE = "admin-user-role"
ADMIN_USER_SCOPE = "admin-user-scope"
ADMIN_USER_PASSWORD = "admin-user-password"
ADMIN_USER_UNIT = "admin-user-unit"
ADMIN_USER_UNIT_BOX = "admin-user-unit-box"
ADMIN_USER_CREATE = "admin-user-create"
ADMIN_USER_UPDATE = "admin-user-update"
ADMIN_USER_DEACTIVATE = "admin-user-deactivate"
ADMIN_USER_RESET = "admin-user-reset"
ADMIN_USER_ACTIVATE = "admin-user-activate"
ADMIN_USER_STATUS = "admin-user-status"
ADMIN_AUDIT = "admin-audit"
ADMIN_AUDIT_ACTOR = "admin-audit-actor"
ADMIN_CALENDAR_NOTICE = "admin-calendar-notice"

# 系统管理 → 派单目录 (layouts/admin_catalogue.py)
ADMIN_CAT_VERSIONS = "admin-cat-versions"
ADMIN_CAT_SELECT = "admin-cat-select"
ADMIN_CAT_DIFF = "admin-cat-diff"
ADMIN_CAT_UNITS = "admin-cat-units"
ADMIN_CAT_TABLE = "admin-cat-table"
ADMIN_CAT_ADD_ROW = "admin-cat-add-row"
ADMIN_CAT_DELETE_ROWS = "admin-cat-delete-rows"
ADMIN_CAT_EFFECTIVE = "admin-cat-effective"
ADMIN_CAT_NOTE = "admin-cat-note"
ADMIN_CAT_PUBLISH = "admin-cat-publish"
ADMIN_CAT_STATUS = "admin-cat-status"
ADMIN_CAT_PUBLISHED_VERSION = "admin-cat-published-version"
# 值班台 dispatch pre-fill from the 派单目录 and the 基层减负 guard
CONSOLE_CATALOGUE_HINT = "console-catalogue-hint"
CONSOLE_GUARD = "console-guard"
CONSOLE_GUARD_CONFIRM = "console-guard-confirm"

# --- grid worker's phone screen (layouts/grid.py, layouts/grid_verify.py) ---
GRID_ROOT = "grid-root"
GRID_REPORT_ID = "grid-report-id"
GRID_CATEGORY = "grid-category"
GRID_TEXT = "grid-text"
GRID_CELL = "grid-cell"
GRID_LOCATE = "grid-locate"
GRID_LOCATION = "grid-location"
GRID_LOCATION_TEXT = "grid-location-text"
GRID_MAP = "grid-map"
GRID_PHOTOS = "grid-photos"
GRID_PHOTO_IDS = "grid-photo-ids"
GRID_PHOTO_PREVIEW = "grid-photo-preview"
GRID_SUBMIT = "grid-submit"
GRID_MESSAGE = "grid-message"
GRID_REFRESH = "grid-refresh"
GRID_TICK = "grid-tick"
GRID_SEEN = "grid-seen"
GRID_MINE = "grid-mine"
GRID_VERIFY_LIST = "grid-verify-list"
GRID_VERIFY_FORM = "grid-verify-form"
GRID_VERIFY_NOTE = "grid-verify-note"
GRID_VERIFY_PHOTOS = "grid-verify-photos"
GRID_VERIFY_PHOTO_IDS = "grid-verify-photo-ids"
GRID_VERIFY_PREVIEW = "grid-verify-preview"
GRID_VERIFY_MESSAGE = "grid-verify-message"
# pattern-matching types: {"type": GRID_VERIFY_PASS / _FAIL, "id": incident id, "version": the version shown}
GRID_VERIFY_PASS = "grid-verify-pass"
GRID_VERIFY_FAIL = "grid-verify-fail"

# --- a responsible unit's queue (layouts/tasks.py, layouts/tasks_actions.py) ---
TASKS_ROOT = "tasks-root"
TASKS_TICK = "tasks-tick"
TASKS_SEEN = "tasks-seen"
TASKS_REFRESH = "tasks-refresh"
TASKS_LIST = "tasks-list"
TASKS_HUNG = "tasks-hung"
TASKS_COUNT = "tasks-count"
TASKS_SELECTED = "tasks-selected"
TASKS_OPEN = "tasks-open"  # pattern-matching type: {"type": TASKS_OPEN, "id": assignment id}
TASKS_DETAIL = "tasks-detail"
TASKS_NOTE = "tasks-note"
TASKS_EXT_HOURS = "tasks-ext-hours"
TASKS_HANG_KIND = "tasks-hang-kind"
TASKS_PHOTOS = "tasks-photos"
TASKS_PHOTO_IDS = "tasks-photo-ids"
TASKS_PHOTO_PREVIEW = "tasks-photo-preview"
TASKS_MESSAGE = "tasks-message"
TASKS_ACTIONS = {
    "accept": "tasks-act-accept",
    "return_order": "tasks-act-return",
    "feedback": "tasks-act-feedback",
    "request_extension": "tasks-act-extension",
    "hang": "tasks-act-hang",
}

# --- 督办台账 (layouts/supervision.py, layouts/supervision_view.py) ---
SUPERVISION_ROOT = "supervision-root"
SUPERVISION_TICK = "supervision-tick"
SUPERVISION_SEEN = "supervision-seen"
SUPERVISION_REFRESH = "supervision-refresh"
SUPERVISION_SHOW = "supervision-show"
SUPERVISION_UNIT = "supervision-unit"
SUPERVISION_COUNT = "supervision-count"
SUPERVISION_TABLE = "supervision-table"
SUPERVISION_SELECTED = "supervision-selected"
SUPERVISION_PICK = "supervision-pick"  # pattern-matching type: {"type": SUPERVISION_PICK, "id": supervision id}
SUPERVISION_DETAIL = "supervision-detail"
SUPERVISION_NOTE = "supervision-note"
SUPERVISION_HOURS = "supervision-hours"
SUPERVISION_EXTEND = "supervision-extend"
SUPERVISION_CLOSE = "supervision-close"
SUPERVISION_MESSAGE = "supervision-message"

# --- opening one incident in the console from a link (layouts/console_open.py): /console?incident=<id> ---
CONSOLE_OPEN = "console-open"
