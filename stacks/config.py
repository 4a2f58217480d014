"""Typed per-environment configuration.

`app.py` reads the `environments` context from `cdk.json`, turns each entry into an
`EnvironmentConfig` (validated once, here) and passes it down as keyword arguments.
Constructs never read context or the process environment themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

DEFAULT_CLUSTER_NAME = "document-exceptions-cluster"
DEFAULT_KAFKA_VERSION = "2.8.1"
DEFAULT_INSTANCE_TYPE = "kafka.t3.small"
SCRAM_PORT = 9096

RemovalMode = Literal["retain", "destroy"]
TopicDeletionPolicy = Literal["Retain", "Delete"]
RecordKeyMode = Literal["constant", "order_req_id"]


def _frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class TopicSettings:
    """A Kafka topic the topic-bootstrap custom resource makes exist."""

    name: str = "DocumentExceptions"
    partitions: int = 3
    replication_factor: int = 2
    configs: Mapping[str, str] = field(default_factory=_frozen)
    deletion_policy: TopicDeletionPolicy = "Retain"


@dataclass(frozen=True)
class SubnetRef:
    """An existing subnet, imported by id (never looked up)."""

    subnet_id: str
    availability_zone: str
    route_table_id: str


@dataclass(frozen=True)
class NetworkSettings:
    """Either import an existing VPC by ids (`mode="import"`) or create one (`mode="create"`)."""

    mode: Literal["import", "create"] = "create"
    vpc_id: str | None = None
    vpc_cidr: str = "10.20.0.0/16"
    subnets: tuple[SubnetRef, ...] = ()
    availability_zones: tuple[str, ...] = ()
    nat_gateways: int = 0
    interface_endpoints: bool = True


@dataclass(frozen=True)
class ClientAccess:
    """Clients outside this app (the Django service) allowed into the cluster on 9096."""

    security_group_ids: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProducerFunctionSettings:
    """The producer Lambda and its queues."""

    reserved_concurrency: int = 5
    timeout_seconds: int = 60
    memory_mb: int = 512
    sqs_batch_size: int = 100
    sqs_max_batching_window_seconds: int = 1
    record_key_mode: RecordKeyMode = "constant"
    default_source: str = "django_s3_app"
    producer_overrides: Mapping[str, str] = field(default_factory=_frozen)


@dataclass(frozen=True)
class MonitoringSettings:
    alarm_topic_arn: str | None = None
    disk_used_percent_threshold: int = 80
    cpu_user_percent_threshold: int = 60


@dataclass(frozen=True)
class EnvironmentConfig:
    """Everything that differs between dev, staging and prod."""

    name: str
    account: str
    region: str
    cluster_name: str = DEFAULT_CLUSTER_NAME
    kafka_version: str = DEFAULT_KAFKA_VERSION
    broker_instance_type: str = DEFAULT_INSTANCE_TYPE
    broker_nodes: int = 2
    volume_gib: int = 100
    enhanced_monitoring: str = "DEFAULT"
    log_retention_days: int = 30
    server_properties: Mapping[str, str] = field(default_factory=_frozen)
    secret_name: str = "AmazonMSK_document-exceptions"
    removal: RemovalMode = "retain"
    termination_protection: bool = False
    topic: TopicSettings = field(default_factory=TopicSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    client_access: ClientAccess = field(default_factory=ClientAccess)
    producer: ProducerFunctionSettings = field(default_factory=ProducerFunctionSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
