"""Typed per-environment configuration.

`app.py` reads the `environments` context from `cdk.json`, turns each entry into an
`EnvironmentConfig` (validated once, here) and passes it down as keyword arguments.
Constructs never read context or the process environment themselves.

Keys in `cdk.json` are the dataclass field names below. Every mistake raises `ConfigError`
with one line naming the environment and the key path, e.g.
`environment 'dev': network.subnets: two subnets in the same AZ (eu-west-1a)`.

Naming rule: an environment that shares its AWS account with another environment gets
`-<env>` appended to the default cluster name and the default secret name (MSK cluster,
configuration and secret names, and CloudWatch dashboard names, must be unique per account
and region; dashboards per account). An environment alone in its account keeps the guide's
`document-exceptions-cluster`. An explicit `cluster_name` / `secret_name` is used as given.
Because a cluster name change replaces the cluster, set the name explicitly before moving
another environment into a production account.

The committed cdk.json holds placeholders: accounts 111111111111 (dev and staging, one shared
non-production account) and 222222222222 (prod), and the guide's `broker-info.json` ids
(vpc/subnet/rtb/sg-12345678...). Replace them with real ids before deploying; synth never
checks them against AWS (`python -m tools.preflight --env <name>` does, and refuses them).

The `ci` context key (`load_ci`, off unless `"enabled": true`) describes the GitHub Actions
access stacks, one per account of the listed environments; CDK's own
`@aws-cdk/core:bootstrapQualifier` key (`load_bootstrap_qualifier`) names the bootstrap whose
roles they may assume.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from stacks.msk_versions import WARNING_IDS, VersionWarning, lookup, version_warning

DEFAULT_CLUSTER_NAME = "document-exceptions-cluster"
DEFAULT_SECRET_NAME = "AmazonMSK_document-exceptions"  # noqa: S105 (a name, not a value)
DEFAULT_KAFKA_VERSION = "2.8.1"
DEFAULT_INSTANCE_TYPE = "kafka.t3.small"
DEFAULT_VPC_CIDR = "10.20.0.0/16"
SCRAM_PORT = 9096
IAM_PORT = 9098
# Security groups per network interface (VPC default quota) less the group this app creates.
MAX_ATTACHED_BROKER_SECURITY_GROUPS = 4
SCRAM_SECRET_PREFIX = "AmazonMSK_"  # noqa: S105 (a name prefix, not a value)

# Provisioned MSK broker types with EBS storage (Express brokers need three AZs and no EBS).
MSK_INSTANCE_TYPES = frozenset(
    {
        "kafka.t3.small",
        *(f"kafka.m5.{size}" for size in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge")),
        *(f"kafka.m5.{size}" for size in ("12xlarge", "16xlarge", "24xlarge")),
        *(f"kafka.m7g.{size}" for size in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge")),
        *(f"kafka.m7g.{size}" for size in ("12xlarge", "16xlarge")),
    }
)
ENHANCED_MONITORING_LEVELS = (
    "DEFAULT",
    "PER_BROKER",
    "PER_TOPIC_PER_BROKER",
    "PER_TOPIC_PER_PARTITION",
)
# CloudWatch Logs accepts only these retention periods (days -> aws_logs.RetentionDays member).
LOG_RETENTION_NAMES = MappingProxyType(
    {
        1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
        30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
        150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
        545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
        2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
        3653: "TEN_YEARS",
    }
)  # fmt: skip
LOG_RETENTION_DAYS = tuple(LOG_RETENTION_NAMES)

# min.insync.replicas=1: with two brokers in two AZs and replication factor 2, a value of 2
# would stop every acks=all producer whenever one broker is down (patching, AZ outage), and
# MSK's guidance is min.insync.replicas <= RF - 1. The price is that a write acknowledged by
# one replica can be lost if that broker fails before the follower catches up; three AZs
# with RF 3 and min.insync.replicas 2 remove that risk.
DEFAULT_SERVER_PROPERTIES = MappingProxyType(
    {
        "auto.create.topics.enable": "false",
        "default.replication.factor": "2",
        "min.insync.replicas": "1",
        "unclean.leader.election.enable": "false",
    }
)

# Kafka's broker property that closes what no ACL names; this app sets it only in the
# configuration a custom resource applies after the ACLs (stacks/acl_enforcement.py).
ALLOW_EVERYONE_PROPERTY = "allow.everyone.if.no.acl.found"

RemovalMode = Literal["retain", "destroy"]
TopicDeletionPolicy = Literal["Retain", "Delete"]
TopicResource = Literal["custom", "native"]
RecordKeyMode = Literal["constant", "order_req_id"]
NetworkMode = Literal["import", "create"]
# How this app's own AWS clients (producer, topic resource, operators) authenticate: IAM on
# 9098 beside SASL/SCRAM (the default), or SASL/SCRAM only, as before IAM was enabled.
KafkaAuthMode = Literal["iam", "scram"]


class ConfigError(ValueError):
    """A configuration mistake: one line naming the environment and the key path."""

    def __init__(self, environment: str | None, path: str, problem: str) -> None:
        where = f"{path}: " if path else ""
        whose = f"environment '{environment}': " if environment is not None else ""
        super().__init__(f"{whose}{where}{problem}")
        self.environment = environment
        self.path = path
        self.problem = problem


def _frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class TopicSettings:
    """A Kafka topic the topic-bootstrap custom resource makes exist."""

    name: str = "DocumentExceptions"
    """Topic name (Kafka: 1-249 letters, digits, '.', '_', '-')."""
    partitions: int = 3
    """Partitions; can grow on a later deploy, never shrink."""
    replication_factor: int = 2
    """Replicas per partition, 1..broker_nodes; fixed once the topic exists."""
    configs: Mapping[str, str] = field(default_factory=_frozen)
    """Topic configs as strings, e.g. {"retention.ms": "604800000"}."""
    deletion_policy: TopicDeletionPolicy = "Retain"
    """Whether deleting the stack keeps the topic (and its messages) or deletes it."""
    resource: TopicResource | None = None
    """What manages the topic: "custom" (this app's custom resource, any Kafka version) or
    "native" (AWS::MSK::Topic, Kafka 3.6.0 and later). Unset: "native" where
    stacks/msk_versions.py says the version has it, else "custom". Fixed once deployed:
    an environment first deployed with "custom" keeps it when kafka_version moves to 3.x
    (pin it in cdk.json; README "Kafka 3.x" says how to adopt the native resource)."""


@dataclass(frozen=True)
class SubnetRef:
    """An existing subnet, imported by id (never looked up)."""

    subnet_id: str
    """Subnet id (subnet-...)."""
    availability_zone: str
    """Its AZ, in the environment's region (e.g. eu-west-1a)."""
    route_table_id: str
    """Its route table id (rtb-...), imported by id like the subnet."""


@dataclass(frozen=True)
class NetworkSettings:
    """Either import an existing VPC by ids (`mode="import"`) or create one (`mode="create"`).

    With `import`, `availability_zones` is derived from `subnets`; with `create`, it names
    the two AZs of the new VPC. `vpc_cidr` is the new VPC's block (`create`) or, optionally,
    the imported VPC's block.

    `broker_security_group_ids` (`import` only): existing security groups of that VPC
    attached to the brokers in addition to the group this app creates, e.g. the
    `SecurityGroups` of the guide's `broker-info.json`. Empty by default: the brokers are in
    the created group alone, which admits only 9096 from `client_access` and this app's
    functions. An attached group's own rules then apply to the brokers too (and, on
    ZooKeeper-based clusters such as 2.8.1, to the ZooKeeper nodes). The cluster's security
    groups are fixed at creation: changing this list REPLACES the cluster, that is a new,
    empty cluster (or a failed deploy, as the new cluster would need the old one's name).
    Decide before the first deploy; admit clients with `client_access`, which never
    replaces the cluster.
    """

    mode: NetworkMode = "create"
    """Make a new VPC for the cluster, or import an existing one by ids."""
    vpc_id: str | None = None
    """The VPC to import (vpc-...); only with mode "import"."""
    vpc_cidr: str | None = None
    """The new VPC's block (/16 to /24), or the imported VPC's."""
    subnets: tuple[SubnetRef, ...] = ()
    """With mode "import": exactly two subnets, in two AZs, for the brokers."""
    availability_zones: tuple[str, ...] = ()
    """With mode "create": the two AZs of the new VPC."""
    nat_gateways: int = 0
    """NAT gateways of a created VPC (0..2; none needed: endpoints instead)."""
    interface_endpoints: bool = True
    """Add interface endpoints for the AWS APIs the functions call (off if the VPC has them)."""
    broker_security_group_ids: tuple[str, ...] = ()
    """With mode "import": existing groups of that VPC also attached to the brokers. A change
    replaces the cluster: decide before the first deploy."""
    endpoint_private_dns: bool | None = None
    """Whether the interface endpoints take over the services' public names for the whole VPC.
    Unset: yes in a created VPC, no in an imported one (other workloads there keep their own
    path to those APIs; this app's Lambdas are pointed at the endpoints by name instead)."""

    @property
    def private_dns(self) -> bool:
        if self.endpoint_private_dns is not None:
            return self.endpoint_private_dns
        return self.mode == "create"


@dataclass(frozen=True)
class ClientAccess:
    """Clients outside this app (the Django service) allowed into the cluster on 9096."""

    security_group_ids: tuple[str, ...] = ()
    """Security groups of clients (the Django app) allowed in on 9096."""
    cidrs: tuple[str, ...] = ()
    """Networks allowed in on 9096 (not 0.0.0.0/0)."""


@dataclass(frozen=True)
class ProducerFunctionSettings:
    """The producer Lambda and its queues."""

    reserved_concurrency: int = 5
    """Reserved concurrency of the producer Lambda (1..1000)."""
    timeout_seconds: int = 60
    """Its timeout (1..900 s)."""
    memory_mb: int = 512
    """Its memory (128..10240 MB)."""
    # Records per invocation: each invocation pays one flush and its acknowledgements, so
    # larger batches publish faster (`make bench` prints the handler path per batch size).
    # 1,000 records of ~1 KB stay far below Lambda's 6 MB payload; the window bounds latency.
    sqs_batch_size: int = 1000
    """SQS records per invocation (1..10000; above 10 needs a batching window)."""
    sqs_max_batching_window_seconds: int = 1
    """How long SQS gathers a batch (0..300 s)."""
    record_key_mode: RecordKeyMode = "constant"
    """Record key: the constant `DocumentAccessLog`, or each message's order_req_id."""
    default_source: str = "django_s3_app"
    """The message `source` when a sender gives none."""
    producer_overrides: Mapping[str, str] = field(default_factory=_frozen)
    """Kafka producer settings to override (not security or connection)."""


@dataclass(frozen=True)
class MonitoringSettings:
    alarm_topic_arn: str | None = None
    """SNS topic, in the same region, that the alarms notify."""
    disk_used_percent_threshold: int = 80
    """Broker disk-used alarm threshold (1..99 %)."""
    cpu_user_percent_threshold: int = 60
    """Broker CPU (user) alarm threshold (1..99 %)."""


@dataclass(frozen=True)
class EnvironmentConfig:
    """Everything that differs between dev, staging and prod."""

    name: str
    account: str
    """AWS account id (12 digits)."""
    region: str
    """AWS region, e.g. eu-west-1."""
    cluster_name: str = DEFAULT_CLUSTER_NAME
    """MSK cluster name (`-<env>` appended when environments share an account); a change
    replaces the cluster."""
    kafka_version: str = DEFAULT_KAFKA_VERSION
    """Kafka version MSK offers (stacks/msk_versions.py), e.g. "3.8.x"."""
    broker_instance_type: str = DEFAULT_INSTANCE_TYPE
    """MSK broker type, e.g. kafka.t3.small, kafka.m7g.large."""
    broker_nodes: int = 2
    """Brokers in all, a multiple of the two subnets/AZs."""
    volume_gib: int = 100
    """EBS storage per broker (1..16384 GiB; increase only)."""
    enhanced_monitoring: str = "DEFAULT"
    """MSK monitoring level: DEFAULT, PER_BROKER, PER_TOPIC_PER_BROKER, PER_TOPIC_PER_PARTITION."""
    log_retention_days: int = 30
    """Retention of every log group (a CloudWatch Logs period: 1, 3, 5, 7, 14, 30, ...)."""
    server_properties: Mapping[str, str] = field(default_factory=lambda: DEFAULT_SERVER_PROPERTIES)
    """Broker properties, merged over the defaults shown."""
    secret_name: str = DEFAULT_SECRET_NAME
    """SCRAM secret name, starting with AmazonMSK_ (`-<env>` appended as for cluster_name)."""
    scram_username: str = "document-exceptions"
    """The SCRAM user the secret holds."""
    kafka_auth: KafkaAuthMode = "iam"
    """How this app's producer, topic resource and operators authenticate: "iam" (IAM access
    control on 9098 beside SASL/SCRAM) or "scram" (SASL/SCRAM only, as before)."""
    allow_everyone_if_no_acl_found: bool | None = None
    """Kafka's `allow.everyone.if.no.acl.found` for the SASL/SCRAM clients (the Django apps).
    Unset: false where this app keeps the SCRAM user's Kafka ACLs (`kafka_auth` "iam", beside
    either kind of topic), else true. false is applied after the ACLs, by a custom resource
    (README "Kafka ACLs of the SCRAM user"); synth refuses it where no ACLs are kept."""
    removal: RemovalMode = "retain"
    """What deleting the stack does to stateful resources (keys, logs, secret)."""
    termination_protection: bool = False
    """CloudFormation termination protection for the stack."""
    topic: TopicSettings = field(default_factory=TopicSettings)
    """The topic (below)."""
    network: NetworkSettings = field(default_factory=NetworkSettings)
    """Where the cluster lives (below)."""
    client_access: ClientAccess = field(default_factory=ClientAccess)
    """Who may connect to the brokers (below)."""
    producer: ProducerFunctionSettings = field(default_factory=ProducerFunctionSettings)
    """The producer Lambda and its queues (below)."""
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    """Alarms (below)."""
    acknowledged_warnings: Mapping[str, str] = field(default_factory=_frozen)
    """Synth warnings decided on, by the id synth names, with the reason, e.g.
    {"document-exceptions:kafka-end-of-support": "existing cluster; upgrade planned"}."""

    @property
    def stack_name(self) -> str:
        return f"DocumentExceptions-{self.name}"

    @property
    def retain(self) -> bool:
        return self.removal == "retain"

    @property
    def log_retention_name(self) -> str:
        """The `aws_logs.RetentionDays` member for `log_retention_days`."""
        return LOG_RETENTION_NAMES[self.log_retention_days]

    @property
    def kafka_version_warning(self) -> VersionWarning | None:
        """One warning when MSK does not offer the Kafka version or ends its support."""
        return version_warning(self.name, self.kafka_version)


# ---------------------------------------------------------------------------------------
# Loading: raw JSON-like mappings -> dataclasses, with the key path tracked for errors.
# ---------------------------------------------------------------------------------------

_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_KAFKA_VERSION = re.compile(r"^\d+\.\d+\.(\d+|x)(\.\d+)?(\.(tiered|kraft))?$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_SCRAM_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9._-]*$")
_AWS_ID = r"[0-9a-f]{8}(?:[0-9a-f]{9})?"
_VPC_ID = re.compile(rf"^vpc-{_AWS_ID}$")
_SUBNET_ID = re.compile(rf"^subnet-{_AWS_ID}$")
_ROUTE_TABLE_ID = re.compile(rf"^rtb-{_AWS_ID}$")
_SECURITY_GROUP_ID = re.compile(rf"^sg-{_AWS_ID}$")
_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):[A-Za-z0-9_-]{1,256}$")


class _Reader:
    """Converts raw values for one environment; raises `ConfigError` with the key path."""

    def __init__(self, environment: str) -> None:
        self.environment = environment

    def fail(self, path: str, problem: str) -> typing.NoReturn:
        raise ConfigError(self.environment, path, problem)

    def dataclass(self, cls: type, raw: Any, path: str, fixed: Mapping[str, Any]) -> Any:
        if not isinstance(raw, Mapping):
            self.fail(path, f"expected an object, got {_kind(raw)}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in fixed}
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            self.fail(
                _join(path, unknown[0]),
                f"unknown key (known: {', '.join(sorted(fields))})",
            )
        values: dict[str, Any] = dict(fixed)
        for name, spec in fields.items():
            if name in raw:
                values[name] = self.value(hints[name], raw[name], _join(path, name))
            elif (
                spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
            ):
                self.fail(_join(path, name), "required key is missing")
        return cls(**values)

    def value(self, hint: Any, raw: Any, path: str) -> Any:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin in (typing.Union, types.UnionType):
            if raw is None and type(None) in args:
                return None
            (inner,) = [arg for arg in args if arg is not type(None)]
            return self.value(inner, raw, path)
        if origin is Literal:
            if raw not in args:
                self.fail(path, f"{raw!r} is not one of {', '.join(map(repr, args))}")
            return raw
        if origin in (tuple, Mapping):
            return self.collection(origin, args[0], raw, path)
        if dataclasses.is_dataclass(hint):
            return self.dataclass(hint, raw, path, {})
        return self.scalar(hint, raw, path)

    def collection(self, origin: type, item_hint: Any, raw: Any, path: str) -> Any:
        """`tuple[X, ...]` from a JSON list, `Mapping[str, str]` from an object of scalars."""
        if origin is tuple:
            if not isinstance(raw, list):
                self.fail(path, f"expected a list, got {_kind(raw)}")
            return tuple(self.value(item_hint, item, f"{path}[{i}]") for i, item in enumerate(raw))
        if not isinstance(raw, Mapping):
            self.fail(path, f"expected an object, got {_kind(raw)}")
        return MappingProxyType(
            {key: self.scalar_text(item, _join(path, key)) for key, item in raw.items()}
        )

    def scalar(self, hint: type, raw: Any, path: str) -> Any:
        accepts, expected = _SCALARS[hint]  # KeyError: a field type this loader lacks (a bug)
        if not accepts(raw):
            self.fail(path, f"expected {expected}, got {_kind(raw)}")
        return raw

    def scalar_text(self, raw: Any, path: str) -> str:
        """Kafka properties: strings, numbers and booleans, as Kafka spells them."""
        if not isinstance(raw, bool | int | str):
            self.fail(path, f"expected a string, number or boolean, got {_kind(raw)}")
        if isinstance(raw, bool):
            return "true" if raw else "false"
        return str(raw)


_SCALARS: Mapping[type, tuple[Callable[[Any], bool], str]] = {
    bool: (lambda raw: isinstance(raw, bool), "true or false"),
    int: (lambda raw: isinstance(raw, int) and not isinstance(raw, bool), "an integer"),
    str: (lambda raw: isinstance(raw, str) and bool(raw), "a non-empty string"),
}


def _kind(raw: Any) -> str:
    if raw is None:
        return "null"
    return {
        dict: "an object",
        list: "a list",
        str: f"the string {raw!r}",
        bool: str(raw).lower(),
    }.get(type(raw), f"{type(raw).__name__} {raw!r}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def load_environment(name: str, raw: Any, *, shares_account: bool = False) -> EnvironmentConfig:
    """Parse and validate one environment's entry from the `environments` context.

    `shares_account` says another environment uses the same AWS account, which appends
    `-<name>` to the default cluster and secret names (see the module docstring).
    """
    if not isinstance(name, str) or not _ENV_NAME.match(name):
        raise ConfigError(str(name), "", "environment names are lowercase letters, digits, '-'")
    reader = _Reader(name)
    if isinstance(raw, Mapping) and "server_properties" in raw:
        overrides = reader.value(Mapping[str, str], raw["server_properties"], "server_properties")
        for key in overrides:
            if not _PROPERTY_NAME.match(key):
                reader.fail(f"server_properties.{key}", "not a Kafka property name")
        raw = {**raw, "server_properties": {**DEFAULT_SERVER_PROPERTIES, **overrides}}
    config: EnvironmentConfig = reader.dataclass(EnvironmentConfig, raw, "", {"name": name})
    defaults: dict[str, Any] = {}
    if isinstance(raw, Mapping) and shares_account:
        if "cluster_name" not in raw:
            defaults["cluster_name"] = f"{DEFAULT_CLUSTER_NAME}-{name}"
        if "secret_name" not in raw:
            defaults["secret_name"] = f"{DEFAULT_SECRET_NAME}-{name}"
    if config.network.mode == "import":
        defaults["network"] = dataclasses.replace(
            config.network,
            availability_zones=tuple(subnet.availability_zone for subnet in config.network.subnets),
        )
    elif config.network.vpc_cidr is None:
        defaults["network"] = dataclasses.replace(config.network, vpc_cidr=DEFAULT_VPC_CIDR)
    topic_resource = config.topic.resource or default_topic_resource(config.kafka_version)
    if config.topic.resource is None:
        defaults["topic"] = dataclasses.replace(config.topic, resource=topic_resource)
    if config.allow_everyone_if_no_acl_found is None:
        defaults["allow_everyone_if_no_acl_found"] = (
            acl_enforcement_refusal(config.kafka_auth) is not None
        )
    if defaults:
        config = dataclasses.replace(config, **defaults)
    _validate(reader, config, raw)
    return config


def acl_enforcement_refusal(kafka_auth: KafkaAuthMode) -> str | None:
    """Why `allow.everyone.if.no.acl.found=false` would lock SCRAM clients out, or None where
    this app keeps the SCRAM user's and the brokers' Kafka ACLs (the ACL resource, beside
    either kind of topic) and so may enforce them.

    The one place that decides it: the default of `allow_everyone_if_no_acl_found` and its
    validation both ask here.
    """
    if kafka_auth != "iam":
        return (
            "false needs kafka_auth 'iam': with SASL/SCRAM only this app sets no Kafka ACLs, "
            "so every SCRAM client (this app's own too) would lose all rights"
        )
    return None


def default_topic_resource(kafka_version: str) -> TopicResource:
    """ "native" where MSK's topic resource serves `kafka_version`, else "custom".

    A version missing from the table (synth warns about it) gets "custom", which works on
    every version.
    """
    row = lookup(kafka_version)
    return "native" if row is not None and row.native_topic_resource else "custom"


def load_environments(environments: Any) -> dict[str, EnvironmentConfig]:
    """Parse the whole `environments` context (name -> settings), validating each entry."""
    if not isinstance(environments, Mapping) or not environments:
        raise ConfigError(None, "environments", "the cdk.json context must define environments")
    account_of = {
        name: raw.get("account") if isinstance(raw, Mapping) else None
        for name, raw in environments.items()
    }
    accounts = list(account_of.values())
    configs = {
        name: load_environment(name, raw, shares_account=accounts.count(account_of[name]) > 1)
        for name, raw in environments.items()
    }
    seen: dict[tuple[str, str, str], str] = {}
    for config in configs.values():
        for key, value in (
            ("cluster_name", config.cluster_name),
            ("secret_name", config.secret_name),
        ):
            other = seen.setdefault((config.account, key, value), config.name)
            if other != config.name:
                raise ConfigError(
                    config.name,
                    key,
                    f"{value!r} is also used by '{other}' in account {config.account}",
                )
    return configs


def select_environments(
    configs: Mapping[str, EnvironmentConfig], name: str | None
) -> list[EnvironmentConfig]:
    """One environment by name (`-c env=dev`), or all of them when no name is given."""
    if name is None:
        return list(configs.values())
    if name not in configs:
        raise ConfigError(name, "", f"unknown environment (known: {', '.join(configs)})")
    return [configs[name]]


def _validate(reader: _Reader, config: EnvironmentConfig, raw: Mapping[str, Any]) -> None:
    fail = reader.fail
    if not _ACCOUNT.match(config.account):
        fail("account", f"{config.account!r} is not a 12-digit AWS account id")
    if not _REGION.match(config.region):
        fail("region", f"{config.region!r} is not an AWS region name")
    if not _CLUSTER_NAME.match(config.cluster_name):
        fail("cluster_name", f"{config.cluster_name!r}: 1-64 letters, digits or '-'")
    if not _KAFKA_VERSION.match(config.kafka_version):
        fail("kafka_version", f"{config.kafka_version!r} is not an MSK Kafka version like 3.8.x")
    if config.broker_instance_type not in MSK_INSTANCE_TYPES:
        fail(
            "broker_instance_type",
            f"{config.broker_instance_type!r} is not an MSK broker type (e.g. kafka.t3.small, "
            "kafka.m5.large, kafka.m7g.large)",
        )
    if not 1 <= config.volume_gib <= 16384:
        fail("volume_gib", f"{config.volume_gib} is outside 1..16384 GiB")
    if config.enhanced_monitoring not in ENHANCED_MONITORING_LEVELS:
        fail(
            "enhanced_monitoring",
            f"{config.enhanced_monitoring!r} is not one of {', '.join(ENHANCED_MONITORING_LEVELS)}",
        )
    if config.log_retention_days not in LOG_RETENTION_DAYS:
        fail(
            "log_retention_days",
            f"{config.log_retention_days} is not a CloudWatch Logs retention period "
            f"({', '.join(map(str, LOG_RETENTION_DAYS))})",
        )
    if not config.secret_name.startswith(SCRAM_SECRET_PREFIX):
        fail("secret_name", f"{config.secret_name!r} must start with {SCRAM_SECRET_PREFIX!r} (MSK)")
    if not _SECRET_NAME.match(config.secret_name):
        fail("secret_name", f"{config.secret_name!r} has characters Secrets Manager refuses")
    if not _SCRAM_USERNAME.match(config.scram_username):
        fail("scram_username", f"{config.scram_username!r}: 1-64 letters, digits, '_', '.', '-'")
    _validate_network(reader, config.network, config.region)
    subnet_count = len(config.network.availability_zones)
    if config.broker_nodes < 1 or config.broker_nodes % subnet_count:
        fail(
            "broker_nodes",
            f"{config.broker_nodes} is not a positive multiple of the subnet count "
            f"({subnet_count})",
        )
    _validate_topic(reader, config)
    _validate_server_properties(reader, config)
    _validate_acl_enforcement(reader, config)
    _validate_client_access(reader, config.client_access)
    _validate_producer(reader, config.producer)
    _validate_monitoring(reader, config)
    _validate_acknowledged_warnings(reader, config)


def _validate_network(reader: _Reader, network: NetworkSettings, region: str) -> None:
    if network.mode == "import":
        _validate_imported_network(reader, network, region)
    else:
        _validate_created_network(reader, network, region)
    if network.endpoint_private_dns is not None and not network.interface_endpoints:
        reader.fail("network.endpoint_private_dns", "only with network.interface_endpoints true")
    if network.vpc_cidr is not None:
        cidr = _cidr(reader, "network.vpc_cidr", network.vpc_cidr, ipaddress.IPv4Network)
        if not 16 <= cidr.prefixlen <= 24:
            reader.fail("network.vpc_cidr", f"{network.vpc_cidr}: a VPC block is /16 to /24")
    _validate_broker_security_groups(reader, network)


def _validate_broker_security_groups(reader: _Reader, network: NetworkSettings) -> None:
    path = "network.broker_security_group_ids"
    groups = network.broker_security_group_ids
    if groups and network.mode != "import":
        reader.fail(path, "only with network.mode 'import' (a created VPC has no existing groups)")
    for index, group in enumerate(groups):
        if not _SECURITY_GROUP_ID.match(group):
            reader.fail(f"{path}[{index}]", f"{group!r} is not a security group id (sg-xxxxxxxx)")
    if len(set(groups)) != len(groups):
        reader.fail(path, "listed twice")
    if len(groups) > MAX_ATTACHED_BROKER_SECURITY_GROUPS:
        reader.fail(
            path,
            f"{len(groups)} groups: at most {MAX_ATTACHED_BROKER_SECURITY_GROUPS} next to the "
            "created one (a network interface takes 5 security groups by default)",
        )


def _validate_imported_network(reader: _Reader, network: NetworkSettings, region: str) -> None:
    fail = reader.fail
    if network.vpc_id is None:
        fail("network.vpc_id", "required when network.mode is 'import'")
    if not _VPC_ID.match(network.vpc_id):
        fail("network.vpc_id", f"{network.vpc_id!r} is not a VPC id (vpc-xxxxxxxx)")
    if network.nat_gateways:
        fail(
            "network.nat_gateways",
            "only with network.mode 'create' (an imported VPC has its own)",
        )
    subnets = network.subnets
    if len(subnets) != 2:
        fail(
            "network.subnets",
            f"exactly two subnets in two AZs are needed, got {len(subnets)}",
        )
    for index, subnet in enumerate(subnets):
        path = f"network.subnets[{index}]"
        if not _SUBNET_ID.match(subnet.subnet_id):
            fail(f"{path}.subnet_id", f"{subnet.subnet_id!r} is not a subnet id")
        if not _ROUTE_TABLE_ID.match(subnet.route_table_id):
            fail(f"{path}.route_table_id", f"{subnet.route_table_id!r} is not a route table id")
        _validate_zone(reader, f"{path}.availability_zone", subnet.availability_zone, region)
    if subnets[0].subnet_id == subnets[1].subnet_id:
        fail("network.subnets", f"the same subnet twice ({subnets[0].subnet_id})")
    if subnets[0].availability_zone == subnets[1].availability_zone:
        fail("network.subnets", f"two subnets in the same AZ ({subnets[0].availability_zone})")


def _validate_created_network(reader: _Reader, network: NetworkSettings, region: str) -> None:
    fail = reader.fail
    if network.vpc_id is not None:
        fail("network.vpc_id", "only with network.mode 'import'")
    if network.subnets:
        fail("network.subnets", "only with network.mode 'import' (a created VPC makes its own)")
    zones = network.availability_zones
    if len(zones) != 2:
        fail("network.availability_zones", f"exactly two AZs are needed, got {len(zones)}")
    for index, zone in enumerate(zones):
        _validate_zone(reader, f"network.availability_zones[{index}]", zone, region)
    if zones[0] == zones[1]:
        fail("network.availability_zones", f"the same AZ twice ({zones[0]})")
    if not 0 <= network.nat_gateways <= 2:
        fail("network.nat_gateways", f"{network.nat_gateways} is outside 0..2")


def _cidr(reader: _Reader, path: str, text: str, parse: Any) -> Any:
    try:
        loose = parse(text, strict=False)
    except ValueError:
        reader.fail(path, f"{text!r} is not a CIDR block like 10.0.0.0/16")
    try:
        return parse(text, strict=True)
    except ValueError:
        reader.fail(path, f"{text!r} has host bits set (the block is {loose})")


def _validate_zone(reader: _Reader, path: str, zone: str, region: str) -> None:
    if not (zone.startswith(region) and re.fullmatch(r"[a-z]", zone[len(region) :])):
        reader.fail(path, f"{zone!r} is not an availability zone of {region}")


def _validate_topic(reader: _Reader, config: EnvironmentConfig) -> None:
    topic = config.topic
    if not _TOPIC_NAME.match(topic.name) or topic.name in (".", ".."):
        reader.fail("topic.name", f"{topic.name!r}: 1-249 letters, digits, '.', '_', '-'")
    if topic.partitions < 1:
        reader.fail("topic.partitions", f"{topic.partitions} must be at least 1")
    if not 1 <= topic.replication_factor <= config.broker_nodes:
        reader.fail(
            "topic.replication_factor",
            f"{topic.replication_factor} is outside 1..broker_nodes ({config.broker_nodes})",
        )
    if topic.resource == "native" and default_topic_resource(config.kafka_version) != "native":
        reader.fail(
            "topic.resource",
            f"'native' (AWS::MSK::Topic) needs Kafka 3.6.0 or later on MSK; kafka_version "
            f"{config.kafka_version!r} has no native topic resource (stacks/msk_versions.py): "
            "use 'custom'",
        )


def _validate_server_properties(reader: _Reader, config: EnvironmentConfig) -> None:
    properties = config.server_properties
    if ALLOW_EVERYONE_PROPERTY in properties:
        reader.fail(
            f"server_properties.{ALLOW_EVERYONE_PROPERTY}",
            "set it with the allow_everyone_if_no_acl_found key (it is applied after the ACLs)",
        )
    for key, limit, what in (
        ("default.replication.factor", config.broker_nodes, "broker_nodes"),
        ("min.insync.replicas", config.topic.replication_factor, "topic.replication_factor"),
    ):
        value = properties.get(key)
        if value is None:
            continue
        if not value.isdigit() or not 1 <= int(value) <= limit:
            reader.fail(f"server_properties.{key}", f"{value!r} is outside 1..{what} ({limit})")


def _validate_acl_enforcement(reader: _Reader, config: EnvironmentConfig) -> None:
    if config.allow_everyone_if_no_acl_found is False:
        refusal = acl_enforcement_refusal(config.kafka_auth)
        if refusal is not None:
            reader.fail("allow_everyone_if_no_acl_found", refusal)


def _validate_client_access(reader: _Reader, access: ClientAccess) -> None:
    for index, group in enumerate(access.security_group_ids):
        if not _SECURITY_GROUP_ID.match(group):
            reader.fail(
                f"client_access.security_group_ids[{index}]",
                f"{group!r} is not a security group id (sg-xxxxxxxx)",
            )
    for index, cidr in enumerate(access.cidrs):
        path = f"client_access.cidrs[{index}]"
        network = _cidr(reader, path, cidr, ipaddress.ip_network)
        if network.prefixlen == 0:
            reader.fail(path, f"{cidr} would open the cluster to the whole internet")
    for key, values in (("security_group_ids", access.security_group_ids), ("cidrs", access.cidrs)):
        if len(set(values)) != len(values):
            reader.fail(f"client_access.{key}", "listed twice")


def _validate_producer(reader: _Reader, producer: ProducerFunctionSettings) -> None:
    for key, low, high in (
        ("reserved_concurrency", 1, 1000),
        ("timeout_seconds", 1, 900),
        ("memory_mb", 128, 10240),
        ("sqs_batch_size", 1, 10000),
        ("sqs_max_batching_window_seconds", 0, 300),
    ):
        value = getattr(producer, key)
        if not low <= value <= high:
            reader.fail(f"producer.{key}", f"{value} is outside {low}..{high}")


def _validate_monitoring(reader: _Reader, config: EnvironmentConfig) -> None:
    monitoring = config.monitoring
    if monitoring.alarm_topic_arn is not None:
        match = _SNS_ARN.match(monitoring.alarm_topic_arn)
        if not match:
            reader.fail(
                "monitoring.alarm_topic_arn",
                f"{monitoring.alarm_topic_arn!r} is not an SNS topic ARN",
            )
        if match.group(1) != config.region:
            reader.fail(
                "monitoring.alarm_topic_arn",
                f"topic is in {match.group(1)}; alarms can only notify a topic in {config.region}",
            )
    for key in ("disk_used_percent_threshold", "cpu_user_percent_threshold"):
        value = getattr(monitoring, key)
        if not 1 <= value <= 99:
            reader.fail(f"monitoring.{key}", f"{value} is outside 1..99 (percent)")


# ---------------------------------------------------------------------------------------
# CI access: GitHub Actions OIDC roles per account (the `ci` context key), off by default.
# ---------------------------------------------------------------------------------------

# CDK's own context key for the bootstrap qualifier: the stacks' synthesizer honours it, so
# the CI roles and preflight read the same value and cannot point at another bootstrap.
BOOTSTRAP_QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"
DEFAULT_BOOTSTRAP_QUALIFIER = "hnb659fds"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"


def bootstrap_role_name(qualifier: str, kind: str, account: str, region: str) -> str:
    """The name `cdk bootstrap` gives its roles: kind is deploy, lookup, file-publishing, ..."""
    return f"cdk-{qualifier}-{kind}-role-{account}-{region}"


_BOOTSTRAP_QUALIFIER = re.compile(r"^[A-Za-z0-9_-]{1,10}$")
_GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_OIDC_PROVIDER_ARN = re.compile(
    rf"^arn:aws[a-z-]*:iam::(\d{{12}}):oidc-provider/{re.escape(GITHUB_OIDC_HOST)}$"
)


@dataclass(frozen=True)
class CiSettings:
    """The `ci` context key as written in cdk.json."""

    enabled: bool = False
    repository: str | None = None
    environments: tuple[str, ...] | None = None
    existing_oidc_providers: Mapping[str, str] = field(default_factory=_frozen)


@dataclass(frozen=True)
class CiAccount:
    """One account's CI access stack: its environments and where the OIDC provider comes from.

    `oidc_provider_arn` is None when the stack creates the provider (one per account; an
    account that already has one for GitHub lists it under `ci.existing_oidc_providers`).
    """

    account: str
    region: str
    repository: str
    bootstrap_qualifier: str
    environments: tuple[EnvironmentConfig, ...]
    oidc_provider_arn: str | None = None

    @property
    def stack_name(self) -> str:
        return f"DocumentExceptions-CI-{self.account}"


class _CiReader(_Reader):
    """Errors name the key under `ci` (it belongs to no environment)."""

    def fail(self, path: str, problem: str) -> typing.NoReturn:
        raise ConfigError(None, _join("ci", path), problem)


def load_bootstrap_qualifier(raw: Any) -> str:
    """The CDK bootstrap qualifier (`@aws-cdk/core:bootstrapQualifier`, default hnb659fds)."""
    if raw is None:
        return DEFAULT_BOOTSTRAP_QUALIFIER
    if not isinstance(raw, str) or not _BOOTSTRAP_QUALIFIER.match(raw):
        raise ConfigError(
            None, BOOTSTRAP_QUALIFIER_CONTEXT, f"{raw!r}: 1-10 letters, digits, '_' or '-'"
        )
    return raw


def load_ci(
    raw: Any,
    environments: Mapping[str, EnvironmentConfig],
    bootstrap_qualifier: str = DEFAULT_BOOTSTRAP_QUALIFIER,
) -> list[CiAccount]:
    """Parse the `ci` context key: one `CiAccount` per account, or none when CI is off."""
    if raw is None:
        return []
    reader = _CiReader("ci")
    settings: CiSettings = reader.dataclass(CiSettings, raw, "", {})
    fail = reader.fail

    if settings.repository is not None and not _GITHUB_REPOSITORY.match(settings.repository):
        fail("repository", f"{settings.repository!r} is not a GitHub repository (owner/name)")
    names = settings.environments if settings.environments is not None else tuple(environments)
    for index, name in enumerate(names):
        if name not in environments:
            fail(f"environments[{index}]", f"unknown environment {name!r}")
    if len(set(names)) != len(names):
        fail("environments", "an environment listed twice")
    accounts = {environments[name].account for name in names}
    for account, arn in settings.existing_oidc_providers.items():
        match = _OIDC_PROVIDER_ARN.match(arn)
        if not match:
            fail(
                f"existing_oidc_providers.{account}",
                f"{arn!r} is not the ARN of a {GITHUB_OIDC_HOST} OIDC provider",
            )
        if match.group(1) != account or account not in accounts:
            fail(
                f"existing_oidc_providers.{account}",
                "not an account of the CI environments" if account not in accounts else
                f"the ARN is in account {match.group(1)}",
            )  # fmt: skip
    if not settings.enabled:
        return []
    if settings.repository is None:
        fail("repository", "required when ci.enabled is true (owner/name)")
    if not names:
        fail("environments", "no environment to give CI access to")
    grouped: dict[str, list[EnvironmentConfig]] = {}
    for name in names:
        grouped.setdefault(environments[name].account, []).append(environments[name])
    return [
        CiAccount(
            account=account,
            region=members[0].region,
            repository=settings.repository,
            bootstrap_qualifier=bootstrap_qualifier,
            environments=tuple(members),
            oidc_provider_arn=settings.existing_oidc_providers.get(account),
        )
        for account, members in grouped.items()
    ]


def _validate_acknowledged_warnings(reader: _Reader, config: EnvironmentConfig) -> None:
    for warning_id, reason in config.acknowledged_warnings.items():
        path = f"acknowledged_warnings.{warning_id}"
        if warning_id not in WARNING_IDS:
            reader.fail(path, f"not a warning this app gives (known: {', '.join(WARNING_IDS)})")
        if not reason.strip():
            reader.fail(path, "say why the warning is acknowledged")
