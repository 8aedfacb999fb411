"""The shipped config loads and describes 成华区; every bad file in tests/data/config fails at its line."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from ops_center.core.config import ConfigError, load_config, parse_duration, resolve_path

ROOT = Path(__file__).resolve().parent.parent
BAD = sorted((Path(__file__).resolve().parent / "data" / "config").glob("bad_*.yaml"))
STREETS = ("猛追湾", "双桥子", "府青路", "二仙桥", "跳蹬河", "双水碾", "万年场", "保和", "青龙", "龙潭", "白莲池")


def expected(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <message>'"
    return first.removeprefix("# expect: ")


def test_there_are_bad_files_for_every_kind_of_mistake():
    names = {p.stem.removeprefix("bad_") for p in BAD}
    assert {
        "unknown_key", "wrong_type", "missing_key", "duplicate_key", "yaml_syntax", "duration", "unknown_parent",
        "department_unknown_domain", "sla_gap", "user_unknown_scope", "duplicate_area", "escalation_order",
        "working_hours",
    } <= names  # fmt: skip


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_config_reports_file_line_and_message(path: Path):
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == expected(path)
    assert info.value.file == path.name and info.value.line is not None


def test_minimal_config_the_bad_files_derive_from_is_valid():
    cfg = load_config(ROOT / "tests" / "data" / "config" / "minimal.yaml")
    assert [a.code for a in cfg.areas.items][-1] == "510108002005001"


def test_shipped_config_loads(cfg):
    assert cfg.site.default_area == "510108"
    assert cfg.area_by_code["510108"].name == "成华区"
    assert {d.code for d in cfg.domains} == set(cfg.domain_by_code)
    assert cfg.source("mqtt_sensors") is not None and cfg.source("nope") is None


def test_demo_site_has_the_eleven_real_streets(cfg):
    streets = cfg.children_of["510108"]
    assert [s.name for s in streets] == [f"{n}街道" for n in STREETS]
    assert [s.code for s in streets] == [f"510108{n:03d}" for n in (2, 4, 6, 7, 8, 10, 11, 14, 15, 16, 17)]
    assert cfg.area_by_code["510108002005"].name == "望平社区"
    assert cfg.area_by_code["510108016025"].name == "龙祥社区"


def test_every_community_has_two_to_four_named_grids(cfg):
    communities = [a for a in cfg.areas.items if a.level == "community"]
    grids = [a for a in cfg.areas.items if a.level == "grid"]
    assert len(communities) == 83 and len(grids) == 254
    for c in communities:
        kids = cfg.children_of[c.code]
        assert 2 <= len(kids) <= 4, c.code
        assert [k.code for k in kids] == [f"{c.code}{i:03d}" for i in range(1, len(kids) + 1)]
        assert [k.name for k in kids] == [f"{c.name}第{i}网格" for i in range(1, len(kids) + 1)]
        assert all(k.level == "grid" for k in kids)


def test_centroids_lie_in_chenghua(cfg):
    for a in cfg.areas.items:
        lat, lon = a.centroid
        assert 30.63 <= lat <= 30.74 and 104.07 <= lon <= 104.18, a.code


def test_roads_point_at_configured_streets_or_communities(cfg):
    assert len(cfg.areas.roads) >= 30
    assert {cfg.area_by_code[r.area].level for r in cfg.areas.roads} == {"street", "community"}
    assert {r.area[:9] for r in cfg.areas.roads} == {s.code for s in cfg.children_of["510108"]}


def test_users_scopes_and_paths(cfg, config_path):
    scopes = {u.username: u.scope for u in cfg.users}
    assert scopes["officer_mzw"] == "510108002"
    assert cfg.path_of(cfg.devices.path) == resolve_path(config_path, cfg.devices.path)
    assert cfg.path_of(cfg.devices.path).is_file()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("2h", 7200), ("3d", 259200), ("1w", 604800), (90, 90), ("1.5h", 5400)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["5 minutes", "", "m5", "-1s", True])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^nothing\.yaml: file not found$"):
        load_config(tmp_path / "nothing.yaml")


def _check_config(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "run.py", "check-config", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_run_check_config_accepts_the_shipped_config():
    done = _check_config(ROOT / "config.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("config OK: ")


def test_run_check_config_rejects_a_bad_config_with_its_line():
    path = next(p for p in BAD if p.stem == "bad_sla_gap")
    done = _check_config(path)
    assert done.returncode == 2
    assert expected(path) in done.stderr
    assert "config OK" not in done.stdout
