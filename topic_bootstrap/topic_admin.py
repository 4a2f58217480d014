"""The admin boundary: every call the topic and ACL resources make to Kafka.

:class:`TopicAdmin` is the interface the resource logic uses; :class:`KafkaTopicAdmin`
implements it over kafka-python's ``KafkaAdminClient``; :func:`open_admin` connects through
``document_exceptions.kafka_connect`` with timeouts derived from the resource's time budget
and words its :class:`~document_exceptions.kafka_connect.KafkaConnectError` as a one-line
CloudFormation reason:

- brokers that cannot be reached fail after one connect window (at once when refused),
  naming the brokers, the port and the security group to check (a network problem does
  not heal by waiting); this holds even for a TLS handshake that gets no answer;
- a refused SASL/SCRAM login is retried with growing pauses until the budget allows no
  more, because a secret newly associated with an MSK cluster takes a while to work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import kafka.errors as kafka_errors
from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    AlterConfigOp,
    ConfigResource,
    ConfigResourceType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)

from document_exceptions.connection import KafkaConnection
from document_exceptions.kafka_connect import FailureKind, KafkaConnectError, open_client
from topic_acls import AclBinding
from topic_planning import ActualTopic, ConfigValue, TopicSpec

log = logging.getLogger(__name__)

CLIENT_ID = "document-exceptions-topic-bootstrap"
FIRST_AUTH_BACKOFF_SECONDS = 1.0
MAX_AUTH_BACKOFF_SECONDS = 15.0
# Once a broker has answered (and refused the login), it answers quickly: later attempts
# need a shorter window than the first one, which may also be waiting for the network.
RETRY_CONNECT_SECONDS = 5.0
MIN_ATTEMPT_SECONDS = 0.5
TOPIC_READY_SECONDS = 10.0
# The ACLs this resource manages are for any host ("*").
ANY_HOST = "*"


class TopicAdminError(Exception):
    """A Kafka operation failed; the message is a one-line reason."""


class BrokersUnreachableError(TopicAdminError):
    """No broker could be reached (or none answered) within the connect window."""


class AuthenticationFailedError(TopicAdminError):
    """The brokers kept refusing the SASL/SCRAM login until the retry budget ran out."""


class TopicExistsError(TopicAdminError):
    """CreateTopics found the topic: someone created it since it was described."""


class OutOfTimeError(TopicAdminError):
    """The time budget (TimeoutSeconds) ran out before the next step could start."""


@dataclass(frozen=True)
class Timeouts:
    """How long one connection attempt and one request may take."""

    connect_seconds: float
    request_seconds: float

    @classmethod
    def for_budget(cls, budget_seconds: float) -> Timeouts:
        """A sixth of the budget each (2-10 s to connect, 2-15 s per request).

        A Create needs about five requests (cluster, describe, configs, create, readiness),
        so even a slow broker leaves the budget time to fail with a reason.
        """
        return cls(
            connect_seconds=_clamp(budget_seconds / 6, 2.0, 10.0),
            request_seconds=_clamp(budget_seconds / 6, 2.0, 15.0),
        )


class TopicAdmin(Protocol):
    """What the topic resource needs from Kafka."""

    def broker_count(self) -> int: ...

    def describe_topic(self, name: str, config_keys: tuple[str, ...]) -> ActualTopic | None: ...

    def create_topic(self, spec: TopicSpec) -> None: ...

    def create_partitions(self, name: str, total: int) -> None: ...

    def alter_configs(
        self, name: str, set_values: Mapping[str, str], delete_keys: tuple[str, ...]
    ) -> None: ...

    def delete_topic(self, name: str) -> bool: ...

    def describe_acls(self, principal: str) -> frozenset[AclBinding]: ...

    def create_acls(self, bindings: tuple[AclBinding, ...]) -> None: ...

    def delete_acls(self, bindings: tuple[AclBinding, ...]) -> int: ...

    def close(self) -> None: ...


class KafkaTopicAdmin:
    """:class:`TopicAdmin` over a connected ``KafkaAdminClient``.

    Every call checks the deadline first, so a slow cluster ends in :class:`OutOfTimeError`
    rather than in the Lambda's own timeout.
    """

    def __init__(
        self,
        client: KafkaAdminClient,
        *,
        deadline: float,
        timeouts: Timeouts,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._deadline = deadline
        self._timeouts = timeouts
        self._clock = clock

    def broker_count(self) -> int:
        self._time_for("reading the cluster's brokers")
        return len(self._call("describe the cluster", self._client.describe_cluster)["brokers"])

    def describe_topic(self, name: str, config_keys: tuple[str, ...]) -> ActualTopic | None:
        self._time_for(f"describing topic {name!r}")
        topics = self._call(f"describe topic {name!r}", self._client.describe_topics, [name])
        info = next((topic for topic in topics if topic.get("name") == name), None)
        error = kafka_errors.for_code(info["error_code"]) if info else None
        if info is None or error is kafka_errors.UnknownTopicOrPartitionError:
            return None
        if error is not kafka_errors.NoError:
            raise TopicAdminError(f"Describing topic {name!r} failed: {_error_text(error)}")
        partitions = info["partitions"]
        replication = max((len(p["replica_nodes"]) for p in partitions), default=0)
        return ActualTopic(
            name=name,
            partitions=len(partitions),
            replication_factor=replication,
            configs=self._describe_configs(name, config_keys) if config_keys else {},
        )

    def _describe_configs(self, name: str, keys: tuple[str, ...]) -> dict[str, ConfigValue]:
        self._time_for(f"reading the configs of topic {name!r}")
        # All of the topic's configs, filtered here: naming the keys in the request would be
        # equivalent on Kafka, but makes the local Tansu broker drop the connection.
        resource = ConfigResource(ConfigResourceType.TOPIC, name)
        described = self._call(
            f"describe the configs of topic {name!r}",
            self._client.describe_configs,
            [resource],
            config_filter="all",
        )
        entries = described.get("topic", {}).get(name, {})
        return {
            key: ConfigValue(
                value=entry.get("value"),
                overridden=entry.get("config_source") == "DYNAMIC_TOPIC_CONFIG",
            )
            for key, entry in entries.items()
            if key in keys
        }

    def create_topic(self, spec: TopicSpec) -> None:
        request_ms = self._time_for(f"creating topic {spec.name!r}")
        new_topic = {
            spec.name: {
                "num_partitions": spec.partitions,
                "replication_factor": spec.replication_factor,
                "configs": dict(spec.configs),
            }
        }
        try:
            self._client.create_topics(new_topic, timeout_ms=request_ms)
        except kafka_errors.TopicAlreadyExistsError:
            raise TopicExistsError(f"Topic {spec.name!r} was created by someone else") from None
        except kafka_errors.KafkaError as exc:
            raise TopicAdminError(
                f"Kafka refused to create topic {spec.name!r}: {_error_text(exc)}"
            ) from None
        ready_ms = int(min(TOPIC_READY_SECONDS, self._remaining()) * 1000)
        try:
            self._client.wait_for_topics([spec.name], timeout_ms=max(ready_ms, 1))
        except kafka_errors.KafkaTimeoutError:
            raise TopicAdminError(
                f"Topic {spec.name!r} was created but its partitions had no leader after "
                f"{ready_ms / 1000:.0f} s; check the brokers' health"
            ) from None

    def create_partitions(self, name: str, total: int) -> None:
        request_ms = self._time_for(f"adding partitions to topic {name!r}")
        try:
            self._client.create_partitions({name: total}, timeout_ms=request_ms)
        except kafka_errors.KafkaError as exc:
            raise TopicAdminError(
                f"Kafka refused to increase topic {name!r} to {total} partitions: "
                f"{_error_text(exc)}"
            ) from None

    def alter_configs(
        self, name: str, set_values: Mapping[str, str], delete_keys: tuple[str, ...]
    ) -> None:
        self._time_for(f"changing the configs of topic {name!r}")
        changes: dict[str, Any] = dict(set_values)
        changes.update(dict.fromkeys(delete_keys, (AlterConfigOp.DELETE, None)))
        resource = ConfigResource(ConfigResourceType.TOPIC, name, changes)
        # Keys are validated by the properties; the broker's answer is checked below.
        result = self._call(
            f"change the configs of topic {name!r}",
            self._client.alter_configs,
            [resource],
            raise_on_unknown=False,
            incremental=True,
        )
        outcome = result.get("topic", {}).get(name)
        if outcome != "OK":
            keys = ", ".join(sorted(changes))
            raise TopicAdminError(
                f"Kafka refused to change configs {keys} of topic {name!r}: {outcome}"
            )

    def delete_topic(self, name: str) -> bool:
        """Delete ``name``; False if it was already gone."""
        request_ms = self._time_for(f"deleting topic {name!r}")
        try:
            self._client.delete_topics([name], timeout_ms=request_ms)
        except kafka_errors.UnknownTopicOrPartitionError:
            return False
        except kafka_errors.KafkaError as exc:
            raise TopicAdminError(
                f"Kafka refused to delete topic {name!r}: {_error_text(exc)}"
            ) from None
        return True

    def describe_acls(self, principal: str) -> frozenset[AclBinding]:
        """``principal``'s ALLOW, LITERAL, any-host ACLs on topics and the cluster."""
        self._time_for(f"describing the ACLs of {principal}")
        everything = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.LITERAL)
        acl_filter = ACLFilter(
            principal=principal,
            host=ANY_HOST,
            operation=ACLOperation.ANY,
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=everything,
        )
        acls, _ = self._call(
            f"describe the ACLs of {principal}", self._client.describe_acls, acl_filter
        )
        return frozenset(
            binding
            for binding in (_binding(acl) for acl in acls)
            if binding is not None and binding.principal == principal
        )

    def create_acls(self, bindings: tuple[AclBinding, ...]) -> None:
        if not bindings:
            return
        self._time_for(f"creating {len(bindings)} ACLs")
        result = self._call("create ACLs", self._client.create_acls, [_acl(b) for b in bindings])
        failed = result.get("failed") or []
        if failed:
            raise TopicAdminError(
                f"Kafka refused to create ACLs ({', '.join(b.describe() for b in bindings)}): "
                f"{_error_text(failed[0])}"
            )

    def delete_acls(self, bindings: tuple[AclBinding, ...]) -> int:
        """Delete exactly ``bindings`` (each filter names one ACL); the number removed."""
        if not bindings:
            return 0
        self._time_for(f"deleting {len(bindings)} ACLs")
        results = self._call("delete ACLs", self._client.delete_acls, [_acl(b) for b in bindings])
        removed = 0
        for acl_filter, matched, error in results:
            if error is not kafka_errors.NoError:
                raise TopicAdminError(
                    f"Kafka refused to delete ACL {_binding(acl_filter)}: {_error_text(error)}"
                )
            removed += len(matched)
        return removed

    def close(self) -> None:
        self._client.close()

    def _remaining(self) -> float:
        return self._deadline - self._clock()

    def _time_for(self, step: str) -> int:
        """Milliseconds the next request may take; OutOfTimeError if the budget is spent."""
        remaining = self._remaining()
        if remaining < MIN_ATTEMPT_SECONDS:
            raise OutOfTimeError(f"Ran out of time (TimeoutSeconds) before {step}")
        return int(min(self._timeouts.request_seconds, remaining) * 1000)

    @staticmethod
    def _call(what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except kafka_errors.KafkaError as exc:
            raise TopicAdminError(f"Could not {what}: {_error_text(exc)}") from None


def open_admin(
    connection: KafkaConnection,
    *,
    deadline: float,
    timeouts: Timeouts,
    clock: Callable[[], float] = time.monotonic,
) -> KafkaTopicAdmin:
    """Connect to the brokers, retrying refused logins until about two requests before
    ``deadline`` (the time those requests need); see the module docstring."""
    started = clock()
    auth_deadline = deadline - 2 * timeouts.request_seconds
    backoff = FIRST_AUTH_BACKOFF_SECONDS
    window = timeouts.connect_seconds
    attempts = 0
    while True:
        remaining = deadline - clock()
        if remaining < MIN_ATTEMPT_SECONDS:
            raise OutOfTimeError("Ran out of time (TimeoutSeconds) before connecting to Kafka")
        attempts += 1
        attempt_seconds = min(window, remaining)
        try:
            client = open_client(
                KafkaAdminClient,
                connection,
                timeout_s=attempt_seconds,
                client_id=CLIENT_ID,
                request_timeout_ms=int(timeouts.request_seconds * 1000),
            )
        except KafkaConnectError as exc:
            failure = exc
        else:
            log.info(
                "connected to Kafka",
                extra={"attempts": attempts, "connection": connection.describe()},
            )
            return KafkaTopicAdmin(client, deadline=deadline, timeouts=timeouts, clock=clock)
        if failure.kind is not FailureKind.AUTHENTICATION:
            raise BrokersUnreachableError(connect_reason(connection, failure, attempt_seconds))
        detail = failure.detail
        next_window = min(RETRY_CONNECT_SECONDS, timeouts.connect_seconds)
        if clock() + backoff + next_window > auth_deadline:
            tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
            if connection.uses_iam:
                raise AuthenticationFailedError(
                    f"{failure.message} for {clock() - started:.0f} s ({tries}): {detail}. "
                    f"Check that {failure.hint}"
                )
            raise AuthenticationFailedError(
                f"The brokers {_servers(connection)} refused the SASL/{connection.sasl_mechanism} "
                f"login as {connection.sasl_username!r} for {clock() - started:.0f} s "
                f"({tries}): {detail}. Check that the SCRAM secret is associated with the "
                "cluster (new associations take minutes to work) and that its password is current"
            )
        log.warning(
            "Kafka refused the login; retrying",
            extra={"attempt": attempts, "retry_in_seconds": backoff, "detail": detail},
        )
        time.sleep(backoff)
        backoff = min(backoff * 2, MAX_AUTH_BACKOFF_SECONDS)
        window = next_window


def connect_reason(connection: KafkaConnection, failure: KafkaConnectError, seconds: float) -> str:
    """The CloudFormation reason for a connection failure other than a refused login."""
    tls = connection.security_protocol in ("SSL", "SASL_SSL")
    if failure.kind in (FailureKind.TLS_TRUST, FailureKind.HOSTNAME):
        what = "certificate not trusted" if failure.kind is FailureKind.TLS_TRUST else ""
        return (
            f"The TLS handshake with the Kafka brokers {_servers(connection)} failed "
            f"({what or failure.detail}). Check that the broker string is the SASL/SCRAM one "
            "(port 9096) and that the brokers' certificate authority is trusted"
        )
    if failure.kind is FailureKind.CLOSED_IN_HANDSHAKE and tls:
        return _closed_in_handshake_message(connection, failure.detail)
    waited = failure.kind is not FailureKind.UNREACHABLE  # an unreachable address fails at once
    return _unreachable_message(connection, seconds if waited else None, failure.detail)


def _closed_in_handshake_message(connection: KafkaConnection, detail: str) -> str:
    return (
        f"The Kafka brokers {_servers(connection)} closed the connection during the TLS "
        f"handshake ({detail}). Check that the broker string is the SASL/SCRAM one (port 9096, "
        f"{connection.security_protocol}) and that the cluster's security group allows this "
        f"function's security group on port {_ports(connection)}"
    )


def _unreachable_message(connection: KafkaConnection, seconds: float | None, detail: str) -> str:
    within = f" within {seconds:.0f} s" if seconds is not None else ""
    return (
        f"Could not reach the Kafka brokers {_servers(connection)}{within} "
        f"({detail}). Check that the cluster's security group allows this function's "
        f"security group on port {_ports(connection)} ({connection.security_protocol}), that "
        "the function runs in the cluster's VPC, and that the brokers are running"
    )


def _servers(connection: KafkaConnection) -> str:
    return ", ".join(connection.bootstrap_servers)


def _ports(connection: KafkaConnection) -> str:
    return ", ".join(sorted({server.rpartition(":")[2] for server in connection.bootstrap_servers}))


def _error_text(error: BaseException | type[BaseException]) -> str:
    """``Name (what happened)`` for a kafka-python error class or instance, on one line.

    kafka-python puts whole request and response dumps into some messages; those give way
    to the error's standard description.
    """
    error_type = error if isinstance(error, type) else type(error)
    name = error_type.__name__
    text = "" if isinstance(error, type) else str(error).split("\n", 1)[0]
    text = text.split(f"{name}: ", 1)[-1] if f"{name}: " in text else text
    if not text or "Request '" in text or len(text) > 200 or text == name:
        text = getattr(error_type, "description", "") or ""
    return f"{name} ({text})" if text else name


_RESOURCE_TYPES = {"TOPIC": ResourceType.TOPIC, "CLUSTER": ResourceType.CLUSTER}
_OPERATIONS = {
    "WRITE": ACLOperation.WRITE,
    "DESCRIBE": ACLOperation.DESCRIBE,
    "IDEMPOTENT_WRITE": ACLOperation.IDEMPOTENT_WRITE,
    "READ": ACLOperation.READ,
    "ALL": ACLOperation.ALL,
}


def _acl(binding: AclBinding) -> ACL:
    """kafka-python's ACL (also a valid filter matching exactly this ACL)."""
    return ACL(
        principal=binding.principal,
        host=ANY_HOST,
        operation=_OPERATIONS[binding.operation],
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(
            _RESOURCE_TYPES[binding.resource_type], binding.resource_name
        ),
    )


def _binding(acl: ACLFilter) -> AclBinding | None:
    """The binding ``acl`` is, if it is an ALLOW, LITERAL, any-host ACL of a kind this
    resource manages; None otherwise (left alone)."""
    pattern = acl.resource_pattern
    resource_type = next(
        (k for k, v in _RESOURCE_TYPES.items() if v == pattern.resource_type), None
    )
    operation = next((k for k, v in _OPERATIONS.items() if v == acl.operation), None)
    if (
        resource_type is None
        or operation is None
        or acl.permission_type != ACLPermissionType.ALLOW
        or pattern.pattern_type != ACLResourcePatternType.LITERAL
        or acl.host != ANY_HOST
    ):
        return None
    return AclBinding(acl.principal, resource_type, pattern.resource_name, operation)  # type: ignore[arg-type]


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
