"""Config section for district centers federated into a city center."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from ops_center.core.config_infra import MqttConfig
from ops_center.core.config_types import Duration, Strict


class FederatedDistrict(Strict):
    """One district center a city center hears (federation.districts)."""

    code: str = Field(pattern=r"^\d{6}$")
    name: str = Field(min_length=1)


class FederationConfig(Strict):
    """District centers federated into a city center over bridged MQTT (docs/federation.md)."""

    role: Literal["district", "city"]
    district_code: str | None = Field(default=None, pattern=r"^\d{6}$")  # role district: the code we publish as
    topic_prefix: str | None = None  # `<prefix>/fed/<district>/…`; default mqtt.topic_prefix
    districts: tuple[FederatedDistrict, ...] = ()  # role city: every district it hears
    city_actions: tuple[Literal["supervise", "escalate"], ...] = ("supervise", "escalate")
    batch_changes: int = Field(default=200, ge=1, le=5000)  # changes per MQTT message
    inflight_messages: int = Field(default=50, ge=1, le=1000)  # sent and not yet acked by the broker
    replay_max: int = Field(default=20_000, ge=100)  # changes one replay request answers at most
    heartbeat: Duration = timedelta(seconds=2)
    gap_wait: Duration = timedelta(seconds=2)  # a gap stays open this long before the city asks for a replay
    silent_after: Duration = timedelta(seconds=30)
    keep: Duration = timedelta(days=7)  # acked outbox rows (for replays) and settled commands stay this long
    supervise_within: Duration = timedelta(days=3)  # a city 督办's deadline, from when the district applies it

    @model_validator(mode="after")
    def _role_needs(self) -> FederationConfig:
        if self.role == "district" and not self.district_code:
            raise ValueError("role district needs district_code")
        if self.role == "city" and not self.districts:
            raise ValueError("role city needs districts")
        codes = [d.code for d in self.districts]
        if len(set(codes)) != len(codes):
            raise ValueError("a district is listed twice")
        return self

    def prefix(self, mqtt: MqttConfig) -> str:
        return (self.topic_prefix or mqtt.topic_prefix).strip("/")
