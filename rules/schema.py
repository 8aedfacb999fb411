"""Raw (uncompiled) rule file models: strict shapes so a typo is an error, not a silent default."""

from __future__ import annotations

import difflib
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ops_center.core.config import Duration, Level, Severity
from ops_center.core.yamlsource import SourceError

RULE_ID = r"^[a-z][a-z0-9_.-]*$"
CATEGORY = r"^[a-z][a-z0-9_]*$"

# Keys a `when` mapping may use; the compiler gives each its meaning.
CONDITION_KEYS = (
    "source", "kind", "event", "metric", "category", "device_id",
    "value", "fields", "keywords", "regex", "area", "grid", "time",
    "any", "all", "not",
)
KEYWORD_KEYS = ("any", "all", "none")
NUMERIC_OPS = ("gt", "gte", "lt", "lte", "eq", "ne", "between")
FILE_KEYS = ("description", "rules", "amplify")


class RuleError(SourceError):
    """A rule file is invalid: `file:LINE: rule <id>: field <f>: message (did you mean 'x'?)`."""


def suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """' (did you mean 'x'?)' when a close valid name exists, so the fix is one glance away."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Raw(BaseModel):
    """Base for raw rule models: frozen and strict about unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class RawClassify(Raw):
    domain: str
    category: str = Field(pattern=CATEGORY)
    severity: Severity


class RawRoute(Raw):
    level: Level | None = None
    department: str | None = None


class RawDedup(Raw):
    key: str = Field(min_length=1)
    window: Duration = timedelta(hours=1)


class RawRule(Raw):
    id: str = Field(pattern=RULE_ID)
    description: str | None = None
    when: dict[str, Any]
    for_: Duration | None = Field(default=None, alias="for")
    classify: RawClassify
    route: RawRoute = RawRoute()
    title: str | None = None
    dedup: RawDedup | None = None
    continue_: bool = Field(default=False, alias="continue")
    clears: bool = False
    enabled: bool = True
    # Hysteresis for `for` rules: once fired, the episode ends only when this holds (e.g. the value
    # back under a lower threshold); readings between the two thresholds keep it.
    clear_when: dict[str, Any] | None = None
    auto_resolve: bool = False  # the clear resolves the incident itself (signal restored), not just a note


class RawAmplify(Raw):
    id: str = Field(pattern=RULE_ID)
    description: str | None = None
    when: dict[str, Any] = Field(default_factory=dict)
    domains: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    severity: Severity
    notify: tuple[str, ...] = ()
    enabled: bool = True


_MODELS: dict[tuple[str, ...], type[BaseModel]] = {
    (): RawRule,
    ("classify",): RawClassify,
    ("route",): RawRoute,
    ("dedup",): RawDedup,
}


def field_names(model: type[BaseModel]) -> tuple[str, ...]:
    """The names a YAML author writes (aliases such as `for`, `continue`)."""
    return tuple(f.alias or name for name, f in model.model_fields.items())


def validation_message(exc: ValidationError, top: type[BaseModel]) -> tuple[tuple, str]:
    """First pydantic error as (loc, 'field x: message (did you mean …)') in rule-file words."""
    errors = exc.errors()
    # An unknown key usually explains a "missing" one (a typo), so report it first.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(err["loc"])
    dotted = ".".join(str(p) for p in loc) or "(rule)"
    if err["type"] == "extra_forbidden":
        model = _MODELS.get(tuple(str(p) for p in loc[:-1]), top) if top is RawRule else top
        return loc, f"field {dotted}: unknown field {loc[-1]!r}{suggest(str(loc[-1]), field_names(model))}"
    if err["type"] == "missing":
        return loc, f"field {dotted}: missing required field"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return loc, f"field {dotted}: {msg}"
