"""Config sections for the plumbing: site, store, web and MQTT broker."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, field_validator

from ops_center.core.config_types import Duration, Strict


class CityConfig(Strict):
    code: str = Field(pattern=r"^\d{6}$")
    name: str
    centroid: tuple[float, float]


class SiteConfig(Strict):
    name: str
    timezone: str = "Asia/Shanghai"
    city: CityConfig
    default_area: str


class BackupConfig(Strict):
    """Online backups of the store: where, how often (None: only when asked), how many kept."""

    dir: str = "data/backups"
    every: Duration | None = None
    keep: int = Field(default=7, ge=1)


class RetentionConfig(Strict):
    """Closed incidents older than `after` move to Parquet in `dir` daily at `at` (None: never, the default)."""

    after: Duration | None = None
    dir: str = "data/archive"
    at: str = Field(default="03:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    keep_replaced: Duration = timedelta(days=30)


MEMORY_SIZE = re.compile(r"^[1-9]\d*(\.\d+)?\s*(MB|GB|TB|MiB|GiB|TiB)$")


class StoreConfig(Strict):
    path: str = "data/ops.duckdb"
    # DuckDB's buffer pool; unset it takes 80 % of the machine's RAM and keeps table blocks cached up to that
    memory_limit: str = "1GB"
    batch_max_rows: int = Field(default=4000, ge=1)
    flush_interval_ms: int = Field(default=50, ge=1)
    dedup_horizon: Duration = timedelta(days=30)
    backup: BackupConfig = BackupConfig()
    retention: RetentionConfig = RetentionConfig()

    @field_validator("memory_limit")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        if not MEMORY_SIZE.match(value.strip()):
            raise ValueError(f"{value!r} is not a size: write one such as 512MB, 1GB or 1.5GiB")
        return value.strip()


class LoginLimitConfig(Strict):
    """Failed logins allowed before back-off, per user name and per client address."""

    user_attempts: int = Field(default=5, ge=1)
    address_attempts: int = Field(default=20, ge=1)
    first_delay: Duration = timedelta(seconds=2)
    max_delay: Duration = timedelta(minutes=15)
    forget_after: Duration = timedelta(hours=1)


class WebConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8050, ge=1, le=65535)
    secret_key: str = Field(min_length=16)
    kiosk_tokens: tuple[str, ...] = ()
    wall_refresh_ms: int = Field(default=1000, ge=200)
    https: bool = False
    proxy_hops: int = Field(default=0, ge=0, le=5)
    login_limit: LoginLimitConfig = LoginLimitConfig()
    photo_max_mb: float = Field(default=8, gt=0, le=50)


class TlsConfig(Strict):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False


class MqttConfig(Strict):
    url: str = "mqtt://127.0.0.1:1883"
    embedded: bool = False
    topic_prefix: str = "ops"
    client_id: str = "ops-center"
    username: str | None = None
    password: str | None = None
    tls: TlsConfig | None = None
    keepalive_s: int = Field(default=30, ge=5)
    shared_group: str | None = None
    receivers: int = Field(default=0, ge=0, le=16)
    session_expiry_s: int = Field(default=86400, ge=0)
    max_payload_bytes: int = Field(default=65536, ge=256)
    max_payload_depth: int = Field(default=8, ge=1, le=64)
    max_payload_fields: int = Field(default=64, ge=8, le=4096)

    @field_validator("receivers")
    @classmethod
    def _receivers(cls, value: int, info) -> int:
        if value > 1 and info.data.get("embedded"):
            raise ValueError("the embedded demo broker has no shared subscriptions: use 0 or 1 receivers with it")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^mqtts?://[^:/\s]+(:\d+)?/?$", value):
            raise ValueError(f"expected mqtt://host:port or mqtts://host:port, got {value!r}")
        return value
