"""The custom resources' properties: validated once, with one-line errors naming the key.

``parse_properties`` reads a topic resource's (``Custom::KafkaTopic``),
``parse_acl_properties`` an ACL resource's (``Custom::KafkaAcls``).

CloudFormation passes every scalar as a string ("3", "true"), so numbers are parsed here.
The checks include what Apache Kafka and MSK enforce but the local Tansu broker does not
(topic-name rules, at least one partition, known topic configs, min.insync.replicas), so a
template that works locally cannot fail on MSK for a reason a test could not see.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from document_exceptions.connection import ConfigurationError, parse_broker_string
from document_exceptions.echo import echo, echo_name
from document_exceptions.names import BROKER_PRINCIPAL
from topic_planning import DeletionPolicy, TopicSpec

DEFAULT_TIMEOUT_SECONDS = 120
MIN_TIMEOUT_SECONDS = 10
# Lambda's ceiling is 900 s; leave the function time to answer after the budget runs out.
MAX_TIMEOUT_SECONDS = 840
INT32_MAX = 2**31 - 1
INT16_MAX = 2**15 - 1

# CloudFormation passes the custom resource's own settings along with the topic's.
FRAMEWORK_PROPERTIES = ("ServiceToken", "ServiceTimeout")
PROPERTY_NAMES = (
    "TopicName",
    "Partitions",
    "ReplicationFactor",
    "Configs",
    "ClusterArn",
    "SecretArn",
    "BootstrapBrokers",
    "DeletionPolicy",
    "TimeoutSeconds",
    # Legacy: the topic resource kept the app user's ACLs before Custom::KafkaAcls did. Still
    # read, so a resource deployed that way (or a rollback to that template) is handled as its
    # properties say.
    "AclPrincipal",
)
ACL_PROPERTY_NAMES = (
    "AppPrincipal",
    "BrokerPrincipal",
    "TopicName",
    "ClusterArn",
    "BootstrapBrokers",
    "DeletionPolicy",
    "TimeoutSeconds",
)

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_CLUSTER_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):kafka:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"cluster/(?P<cluster>[A-Za-z0-9-]+)/(?P<uuid>[A-Za-z0-9-]+)$"
)
# A SASL/SCRAM user as Kafka names it in ACLs (MSK SCRAM usernames: stacks/config.py).
_ACL_PRINCIPAL = re.compile(r"^User:[A-Za-z0-9_.-]{1,64}$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:(?P<name>.+)$")

# Topic-level configs of Apache Kafka 2.8 (and the tiered-storage ones of 3.x). The value
# is the smallest whole number allowed, for the configs that take one.
INTEGER_CONFIGS: Mapping[str, int] = {
    "delete.retention.ms": 0,
    "file.delete.delay.ms": 0,
    "flush.messages": 1,
    "flush.ms": 0,
    "index.interval.bytes": 0,
    "local.retention.bytes": -2,
    "local.retention.ms": -2,
    "max.compaction.lag.ms": 1,
    "max.message.bytes": 0,
    "message.timestamp.difference.max.ms": 0,
    "min.compaction.lag.ms": 0,
    "min.insync.replicas": 1,
    "retention.bytes": -1,
    "retention.ms": -1,
    "segment.bytes": 14,
    "segment.index.bytes": 4,
    "segment.jitter.ms": 0,
    "segment.ms": 1,
}
BOOLEAN_CONFIGS = frozenset(
    {
        "message.downconversion.enable",
        "preallocate",
        "remote.storage.enable",
        "unclean.leader.election.enable",
    }
)
CHOICE_CONFIGS: Mapping[str, frozenset[str]] = {
    "compression.type": frozenset({"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}),
    "message.timestamp.type": frozenset({"CreateTime", "LogAppendTime"}),
}
TEXT_CONFIGS = frozenset(
    {
        "cleanup.policy",
        "follower.replication.throttled.replicas",
        "leader.replication.throttled.replicas",
        "message.format.version",
        "min.cleanable.dirty.ratio",
    }
)
TOPIC_CONFIGS = frozenset({*INTEGER_CONFIGS, *BOOLEAN_CONFIGS, *CHOICE_CONFIGS, *TEXT_CONFIGS})


class PropertyError(ValueError):
    """A property is missing or malformed; the message starts with the property's name."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = echo_name(key)
        super().__init__(f"{self.key}: {problem}")


@dataclass(frozen=True)
class TopicProperties:
    """Everything the resource was asked to do, validated."""

    topic: TopicSpec
    deletion_policy: DeletionPolicy
    timeout_seconds: int
    cluster_arn: str | None
    secret_arn: str | None
    bootstrap_brokers: tuple[str, ...] | None
    acl_principal: str | None = None
    """Legacy ``AclPrincipal``: the SCRAM principal whose ACLs a topic resource of the
    previous version kept (topic_acls), or None (today's topic resources: no ACLs)."""

    def physical_resource_id(self, local_servers: tuple[str, ...] | None = None) -> str:
        """Stable id for (cluster, topic): the topic's ARN, or the local brokers + name.

        A different cluster or topic name gives a different id, which is how
        CloudFormation learns that the old topic is to be deleted (under its own policy).
        """
        if self.cluster_arn is not None:
            match = _CLUSTER_ARN.match(self.cluster_arn)
            assert match is not None  # checked by parse_properties
            return (
                f"arn:{match['partition']}:kafka:{match['region']}:{match['account']}:"
                f"topic/{match['cluster']}/{match['uuid']}/{self.topic.name}"
            )
        if not local_servers:
            raise PropertyError("ClusterArn", "required (no local KAFKA_BOOTSTRAP_SERVERS either)")
        return f"kafka-topic://{','.join(sorted(local_servers))}/{self.topic.name}"


def parse_properties(raw: Any, *, local: bool, iam: bool = False) -> TopicProperties:
    """Validate ``ResourceProperties``.

    ``local`` is True when the guide's KAFKA_* variables name the brokers: then ClusterArn
    and SecretArn are optional (they are required for MSK). ``iam`` is True when the
    function signs in with MSK IAM access control: then there is no secret to name.
    """
    _check_known(raw, PROPERTY_NAMES)
    name = _topic_name(raw.get("TopicName"))
    partitions = _whole_number(raw, "Partitions", minimum=1, maximum=INT32_MAX)
    replication = _whole_number(raw, "ReplicationFactor", minimum=1, maximum=INT16_MAX)
    configs = _configs(raw.get("Configs"), replication)
    return TopicProperties(
        topic=TopicSpec(name, partitions, replication, configs),
        deletion_policy=_deletion_policy(raw.get("DeletionPolicy")),
        timeout_seconds=_timeout_seconds(raw),
        cluster_arn=_cluster_arn(raw.get("ClusterArn"), required=not local),
        secret_arn=_secret_arn(raw.get("SecretArn"), required=not (local or iam)),
        bootstrap_brokers=_broker_list(raw.get("BootstrapBrokers")),
        acl_principal=_acl_principal(raw.get("AclPrincipal"), "AclPrincipal"),
    )


@dataclass(frozen=True)
class AclProperties:
    """What one ACL resource keeps (topic_acls.resource_bindings), validated."""

    app_principal: str
    topic_name: str
    brokers: bool
    """True with ``BrokerPrincipal``: the brokers' bindings too (topic_acls)."""
    deletion_policy: DeletionPolicy
    timeout_seconds: int
    cluster_arn: str | None
    bootstrap_brokers: tuple[str, ...] | None
    # The ACL resource signs in with IAM only: never a secret (the connection reads this).
    secret_arn: None = None

    def physical_resource_id(self, local_servers: tuple[str, ...] | None = None) -> str:
        """One id per cluster: a new topic name or principal is an Update (the resource then
        removes the bindings it no longer keeps), never a replacement whose Delete would take
        away the cluster bindings the new resource shares."""
        if self.cluster_arn is not None:
            return f"kafka-acls:{self.cluster_arn}"
        if not local_servers:
            raise PropertyError("ClusterArn", "required (no local KAFKA_BOOTSTRAP_SERVERS either)")
        return f"kafka-acls://{','.join(sorted(local_servers))}"


def parse_acl_properties(raw: Any, *, local: bool) -> AclProperties:
    """Validate an ACL resource's ``ResourceProperties`` (``local``: as for a topic)."""
    _check_known(raw, ACL_PROPERTY_NAMES)
    app_principal = _acl_principal(raw.get("AppPrincipal"), "AppPrincipal")
    if app_principal is None:
        raise PropertyError("AppPrincipal", "required")
    if app_principal == BROKER_PRINCIPAL:
        raise PropertyError(
            "AppPrincipal", f"{BROKER_PRINCIPAL} is the brokers' principal, not an app user"
        )
    broker_principal = raw.get("BrokerPrincipal")
    if broker_principal not in (None, "", BROKER_PRINCIPAL):
        raise PropertyError(
            "BrokerPrincipal",
            f"{echo(broker_principal)} is not {BROKER_PRINCIPAL} (the principal MSK's brokers "
            "replicate as on a SASL/SCRAM cluster); leave it out for no brokers' ACLs",
        )
    return AclProperties(
        app_principal=app_principal,
        topic_name=_topic_name(raw.get("TopicName")),
        brokers=bool(broker_principal),
        deletion_policy=_deletion_policy(raw.get("DeletionPolicy")),
        timeout_seconds=_timeout_seconds(raw),
        cluster_arn=_cluster_arn(raw.get("ClusterArn"), required=not local),
        bootstrap_brokers=_broker_list(raw.get("BootstrapBrokers")),
    )


def _timeout_seconds(raw: Mapping[str, Any]) -> int:
    return _whole_number(
        raw,
        "TimeoutSeconds",
        minimum=MIN_TIMEOUT_SECONDS,
        maximum=MAX_TIMEOUT_SECONDS,
        default=DEFAULT_TIMEOUT_SECONDS,
    )


def _check_known(raw: Any, names: tuple[str, ...]) -> None:
    if not isinstance(raw, Mapping):
        raise PropertyError("ResourceProperties", f"expected a map, got {_kind(raw)}")
    unknown = sorted(set(raw) - {*names, *FRAMEWORK_PROPERTIES})
    if unknown:
        raise PropertyError(unknown[0], f"unknown property (expected {', '.join(names)})")


def _topic_name(value: Any) -> str:
    if value is None or value == "":
        raise PropertyError("TopicName", "required")
    if not isinstance(value, str):
        raise PropertyError("TopicName", f"expected text, got {_kind(value)}")
    if not _TOPIC_NAME.match(value) or value in (".", ".."):
        raise PropertyError(
            "TopicName",
            f"{echo(value)} is not a valid Kafka topic name (1-249 characters from A-Z, a-z, 0-9, "
            "'.', '_', '-'; not '.' or '..')",
        )
    return value


def _whole_number(
    raw: Mapping[str, Any],
    key: str,
    *,
    minimum: int,
    maximum: int,
    default: int | None = None,
) -> int:
    value = raw.get(key)
    if value is None or value == "":
        if default is None:
            raise PropertyError(key, "required")
        return default
    number = _parse_int(key, value)
    if not minimum <= number <= maximum:
        raise PropertyError(key, f"{number} is outside the allowed range {minimum}-{maximum}")
    return number


def _parse_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PropertyError(key, f"expected a whole number, got {_kind(value)}")
    if isinstance(value, int):
        return value
    text = value.strip()
    if not re.fullmatch(r"-?\d{1,19}", text):
        raise PropertyError(key, f"{echo(value)} is not a whole number")
    return int(text)


def _configs(value: Any, replication_factor: int) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, Mapping):
        raise PropertyError(
            "Configs", f"expected a map of topic config names to values, got {_kind(value)}"
        )
    configs: dict[str, str] = {}
    for key, raw_value in value.items():
        label = f"Configs.{echo_name(key)}"
        if key not in TOPIC_CONFIGS:
            raise PropertyError(label, "not a Kafka topic config")
        configs[key] = _config_value(key, label, raw_value)
    min_isr = configs.get("min.insync.replicas")
    if min_isr is not None and int(min_isr) > replication_factor:
        raise PropertyError(
            "Configs.min.insync.replicas",
            f"{min_isr} is more than ReplicationFactor {replication_factor}; "
            "producers with acks=all could never write",
        )
    return configs


def _config_value(key: str, label: str, value: Any) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise PropertyError(label, f"expected a value, got {_kind(value)}")
    text = value.strip()
    if key in INTEGER_CONFIGS:
        number = _parse_int(label, text)
        if number < INTEGER_CONFIGS[key]:
            raise PropertyError(label, f"{number} is below the minimum of {INTEGER_CONFIGS[key]}")
        return str(number)
    if key in BOOLEAN_CONFIGS:
        if text.lower() not in ("true", "false"):
            raise PropertyError(label, f"{echo(value)} is not true or false")
        return text.lower()
    if key in CHOICE_CONFIGS and text not in CHOICE_CONFIGS[key]:
        choices = ", ".join(sorted(CHOICE_CONFIGS[key]))
        raise PropertyError(label, f"{echo(value)} is not one of {choices}")
    _check_text_config(key, label, text)
    return text


def _check_text_config(key: str, label: str, text: str) -> None:
    if key == "cleanup.policy":
        parts = [part.strip() for part in text.split(",")]
        if any(part not in ("delete", "compact") for part in parts):
            raise PropertyError(label, f"{echo(text)} is not delete, compact or compact,delete")
    elif key == "min.cleanable.dirty.ratio":
        try:
            ratio = float(text)
        except ValueError:
            raise PropertyError(label, f"{echo(text)} is not a number") from None
        if not 0 <= ratio <= 1:
            raise PropertyError(label, f"{echo(text)} is outside 0-1")


def _deletion_policy(value: Any) -> DeletionPolicy:
    if value is None or value == "":
        return DeletionPolicy.RETAIN
    for policy in DeletionPolicy:
        if value == policy.value:
            return policy
    raise PropertyError("DeletionPolicy", f"{echo(value)} is not one of Retain, Delete")


def _cluster_arn(value: Any, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise PropertyError("ClusterArn", "required")
        return None
    if not isinstance(value, str) or not _CLUSTER_ARN.match(value):
        raise PropertyError(
            "ClusterArn",
            f"{echo(value)} is not an MSK cluster ARN "
            "(arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/ID)",
        )
    return value


def _secret_arn(value: Any, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise PropertyError("SecretArn", "required")
        return None
    match = _SECRET_ARN.match(value) if isinstance(value, str) else None
    if match is None:
        raise PropertyError("SecretArn", f"{echo(value)} is not a Secrets Manager secret ARN")
    if not match["name"].startswith("AmazonMSK_"):
        raise PropertyError(
            "SecretArn", "MSK SCRAM secrets must have a name starting with AmazonMSK_"
        )
    return value


def _acl_principal(value: Any, key: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _ACL_PRINCIPAL.match(value):
        raise PropertyError(
            key,
            f"{echo(value)} is not a SASL/SCRAM principal (User:NAME, NAME 1-64 characters "
            "from A-Z, a-z, 0-9, '_', '.', '-')",
        )
    return value


def _broker_list(value: Any) -> tuple[str, ...] | None:
    """MSK's SASL/SCRAM or IAM broker string (``b-1...:9096,...`` or ``b-1...:9098,...``),
    when known at deploy time."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PropertyError("BootstrapBrokers", f"expected text, got {_kind(value)}")
    try:
        return parse_broker_string(value, variable="BootstrapBrokers")
    except ConfigurationError:
        raise PropertyError(
            "BootstrapBrokers", f"{echo(value)} is not a comma-separated list of host:port"
        ) from None


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
