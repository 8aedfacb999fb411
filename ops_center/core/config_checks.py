"""Cross-references pydantic cannot see, checked after parsing so an error names the config line."""

from __future__ import annotations

from ops_center.core.config_model import Config
from ops_center.core.config_sources import SourceConfig
from ops_center.core.dispatch_catalogue import known_units, load_seed
from ops_center.core.domains import DOMAIN_CODES, LEVELS, ROLES, SEVERITIES
from ops_center.core.source_mapping import load_category_map
from ops_center.core.units import APPROVER_ROLES, is_unit_code
from ops_center.core.yamlsource import LocatedDocument, SourceError


def check_references(cfg: Config, doc: LocatedDocument) -> None:
    """Cross-references pydantic cannot see: parents, domains, departments, scopes."""
    codes = cfg.area_by_code
    seen: set[str] = set()
    for i, area in enumerate(cfg.areas.items):
        where = ("areas", "items", i, "code")
        if area.code in seen:
            raise doc.error(where, f"area code {area.code} appears twice")
        seen.add(area.code)
        parent = area.parent_code
        if parent is not None and parent not in codes:
            raise doc.error(where, f"area {area.code} ({area.name}) has no parent area {parent}")
    for i, road in enumerate(cfg.areas.roads):
        if road.area not in codes:
            raise doc.error(("areas", "roads", i, "area"), f"road {road.name} names unknown area {road.area}")
    if cfg.site.default_area not in codes:
        raise doc.error(("site", "default_area"), f"default_area {cfg.site.default_area} is not a configured area")
    departments = {d.code for d in cfg.departments}
    domain_codes = {d.code for d in cfg.domains}
    missing = set(DOMAIN_CODES) - domain_codes
    if missing:
        raise doc.error(("domains",), f"domains missing: {', '.join(sorted(missing))}")
    for i, domain in enumerate(cfg.domains):
        if domain.code not in DOMAIN_CODES:
            raise doc.error(("domains", i, "code"), f"unknown domain {domain.code!r}; known: {', '.join(DOMAIN_CODES)}")
        if domain.department not in departments:
            raise doc.error(("domains", i, "department"), f"unknown department {domain.department!r}")
    for i, dept in enumerate(cfg.departments):
        for code in dept.domains:
            if code not in domain_codes:
                raise doc.error(("departments", i, "domains"), f"department {dept.code} names unknown domain {code!r}")
    covered = set()
    for i, rule in enumerate(cfg.sla.table):
        if rule.domain not in domain_codes:
            raise doc.error(("sla", "table", i, "domain"), f"SLA row names unknown domain {rule.domain!r}")
        if rule.resolve <= rule.acknowledge:
            raise doc.error(("sla", "table", i, "resolve"), "resolve time must be longer than acknowledge time")
        if rule.category is None:
            covered.add((rule.domain, rule.severity))
    gaps = [f"{d}/{s}" for d in sorted(domain_codes) for s in SEVERITIES if (d, s) not in covered]
    if gaps:
        raise doc.error(("sla", "table"), f"SLA table has no row for {', '.join(gaps[:6])}{' …' if len(gaps) > 6 else ''}")
    if list(cfg.escalation.chain) != [lvl for lvl in LEVELS if lvl in cfg.escalation.chain]:
        raise doc.error(("escalation", "chain"), f"chain must go upwards in the order {' → '.join(LEVELS)}")
    names = set()
    for i, user in enumerate(cfg.users):
        if user.username in names:
            raise doc.error(("users", i, "username"), f"user {user.username} appears twice")
        names.add(user.username)
        if user.scope not in codes and user.scope != cfg.site.city.code:
            raise doc.error(("users", i, "scope"), f"user {user.username} has unknown scope area {user.scope}")
        if user.role not in ROLES:
            raise doc.error(("users", i, "role"), f"unknown role {user.role}")
        if (user.role == "unit") != (user.unit is not None):
            raise doc.error(("users", i, "unit"), f"user {user.username}: a unit is given to role unit, and only to it")
        if user.unit is not None and not is_unit_code(user.unit, departments, codes):
            raise doc.error(("users", i, "unit"), f"user {user.username} names unknown unit {user.unit!r}; "
                            "a department code, community:<12-digit area> or street:<9-digit area>")
    for i, role in enumerate(cfg.work_orders.extension_approvers):
        if role not in APPROVER_ROLES:
            raise doc.error(("work_orders", "extension_approvers", i),
                            f"an extension approver is one of {', '.join(APPROVER_ROLES)}, not {role}")
    ids = set()
    for i, src in enumerate(cfg.sources):
        if src.id in ids:
            raise doc.error(("sources", i, "id"), f"source id {src.id} appears twice")
        ids.add(src.id)
        if src.kind == "open311" and not src.url:
            raise doc.error(("sources", i), f"source {src.id}: kind open311 needs a url")
        if src.kind == "drop_folder" and not src.path:
            raise doc.error(("sources", i), f"source {src.id}: kind drop_folder needs a path")
        _check_mapping(cfg, doc, i, src)
    subs = set()
    for i, sub in enumerate(cfg.reports.subscriptions):
        if sub.id in subs:
            raise doc.error(("reports", "subscriptions", i, "id"), f"report subscription {sub.id} appears twice")
        subs.add(sub.id)
        if sub.area not in codes:
            raise doc.error(("reports", "subscriptions", i, "area"), f"report subscription {sub.id} names unknown area {sub.area}")
    _check_open311_server(cfg, doc, ids)
    after = cfg.store.retention.after
    if after is not None and after < cfg.store.dedup_horizon:
        raise doc.error(("store", "retention", "after"),
                        f"store.retention.after ({after}) must be at least store.dedup_horizon "
                        f"({cfg.store.dedup_horizon}): a redelivered input must still find its event")
    if cfg.dispatch_catalogue is not None:
        path = cfg.path_of(cfg.dispatch_catalogue)
        if not path.is_file():
            raise doc.error(("dispatch_catalogue",), f"dispatch catalogue {path} not found")
        load_seed(path, known_units(cfg))  # a SourceError names the catalogue file and its line
    _check_city_areas(cfg, doc)
    for i, sup in enumerate(cfg.suppressions):
        entry: tuple[str | int, ...] = ("suppressions", i)
        if sup.ends <= sup.starts:
            raise doc.error(entry + ("ends",), "a suppression must end after it starts")
        if sup.scope == "area" and sup.value not in codes:
            raise doc.error(entry + ("value",), f"suppression names unknown area {sup.value}")
        if sup.scope == "domain" and sup.value not in domain_codes:
            raise doc.error(entry + ("value",), f"suppression names unknown domain {sup.value!r}")


def _check_city_areas(cfg: Config, doc: LocatedDocument) -> None:
    """A city center drills 市 → 区: its areas are its districts' (each listed district configured, no other)."""
    fed = cfg.federation
    if fed is None or fed.role != "city":
        return
    listed = {d.code for d in fed.districts}
    for i, district in enumerate(fed.districts):
        if district.code not in cfg.area_by_code:
            raise doc.error(("federation", "districts", i, "code"),
                            f"district {district.code} ({district.name}) is not a configured area: a city center "
                            "configures the areas of every district it hears")
        if district.code == cfg.site.city.code:
            raise doc.error(("federation", "districts", i, "code"), f"district {district.code} is the city's own code")
    for i, area in enumerate(cfg.areas.items):
        if area.level == "district" and area.code not in listed:
            raise doc.error(("areas", "items", i, "code"),
                            f"area {area.code} ({area.name}) is a district the city does not hear: "
                            "list it in federation.districts")


def _check_open311_server(cfg: Config, doc: LocatedDocument, source_ids: set[str]) -> None:
    """Our GeoReport endpoint: its own source id, a loadable service list, distinct client keys."""
    srv = cfg.open311_server
    where = ("open311_server",)
    if not srv.enabled:
        return
    if srv.source_id in source_ids:
        raise doc.error(where + ("source_id",), f"open311_server.source_id {srv.source_id} is already a source id")
    path = cfg.path_of(srv.services)
    if not path.is_file():
        raise doc.error(where + ("services",), f"open311_server: service list {path} not found")
    try:
        load_category_map(str(path))
    except SourceError as exc:
        raise doc.error(where + ("services",), f"open311_server: {exc}") from None
    keys: set[str] = set()
    for i, client in enumerate(srv.clients):
        if client.api_key in keys:
            raise doc.error(where + ("clients", i, "api_key"), f"client {client.name}: api_key used twice")
        keys.add(client.api_key)


def _check_mapping(cfg: Config, doc: LocatedDocument, i: int, src: SourceConfig) -> None:
    """A source's category map must load and name known domains; its date formats must parse."""
    where = ("sources", i, "mapping")
    for fmt in src.mapping.date_formats:
        if "%" not in fmt:
            raise doc.error(where + ("date_formats",), f"source {src.id}: date format {fmt!r} has no % directive")
    if src.mapping.category_map:
        path = cfg.path_of(src.mapping.category_map)
        if not path.is_file():
            raise doc.error(where + ("category_map",), f"source {src.id}: category map {path} not found")
        try:
            cmap = load_category_map(str(path))
        except SourceError as exc:
            raise doc.error(where + ("category_map",), f"source {src.id}: {exc}") from None
        if src.kind in ("mqtt_grid", "simulator"):
            raise doc.error(where + ("category_map",), f"source {src.id}: kind {src.kind} has no category map")
        if src.kind == "mqtt_sensor" and "fields" not in cmap.model_fields_set:
            raise doc.error(where + ("category_map",), f"source {src.id}: category map {path.name} must list `fields`, "
                            "the payload fields holding the vendor's code (e.g. [alarm_type, code])")
