"""Carry out one CloudFormation custom-resource event for a Kafka topic.

:func:`handle_event` validates the properties, finds the brokers and credentials, looks at
the topic, asks :mod:`topic_planning` for a plan and carries it out through the admin
boundary (:mod:`topic_admin`). It returns what the CDK Provider framework expects
(``PhysicalResourceId`` and ``Data``) or raises an exception whose message is the one-line
reason CloudFormation shows. :class:`Runtime` (environment, time budget, connection) serves
the ACL resource (:mod:`acl_resource`) too.

The topic resource keeps no ACLs: ``Custom::KafkaAcls`` does. A resource deployed by the
previous version carries ``AclPrincipal``; its events still do what that says (Create and
Update keep the app user's bindings, Delete under DeletionPolicy Delete removes the topic's),
so a rollback to that template loses nothing, and an Update that drops the property never
removes an ACL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from document_exceptions.connection import (
    BOOTSTRAP_BROKERS_VARIABLE,
    CAFILE_VARIABLE,
    CLUSTER_ARN_VARIABLE,
    SECRET_ARN_VARIABLE,
    ConfigurationError,
    KafkaConnection,
    auth_mode,
    fetch_bootstrap_brokers,
    from_environment,
    msk_iam_connection,
    msk_scram_connection,
    read_scram_secret,
)
from document_exceptions.echo import echo
from document_exceptions.names import KAFKA_AUTH_IAM
from topic_acls import app_bindings, ensure_bindings, remove_bindings
from topic_admin import Timeouts, TopicAdmin, TopicExistsError, open_admin
from topic_planning import (
    AlterConfigs,
    CreateTopic,
    DeleteTopic,
    IncreasePartitions,
    Plan,
    TopicSpec,
    delete_needs_lookup,
    plan_create,
    plan_delete,
    plan_update,
)
from topic_properties import AclProperties, PropertyError, TopicProperties, parse_properties

log = logging.getLogger(__name__)
T = TypeVar("T")

REQUEST_TYPES = ("Create", "Update", "Delete")
# Time the function keeps after the budget, to log and raise before Lambda stops it.
LAMBDA_MARGIN_SECONDS = 10.0
PROPERTY_FOR_VARIABLE = {
    SECRET_ARN_VARIABLE: "SecretArn",
    CLUSTER_ARN_VARIABLE: "ClusterArn",
    BOOTSTRAP_BROKERS_VARIABLE: "BootstrapBrokers",
}


class EventError(ValueError):
    """The event itself is malformed (not one CloudFormation would send)."""


class LookupFailedError(RuntimeError):
    """Reading the SCRAM secret or the cluster's brokers from AWS failed."""


class Connector(Protocol):
    def __call__(
        self, connection: KafkaConnection, *, deadline: float, timeouts: Timeouts
    ) -> TopicAdmin: ...


@dataclass(frozen=True)
class Runtime:
    """Where the handler runs: its environment, its time left and how it reaches AWS/Kafka.

    ``remaining_seconds`` is the Lambda's time left (None when run locally).
    ``aws_client(service, timeouts)`` makes a boto3 client; ``connect`` opens the admin.
    """

    environ: Mapping[str, str]
    remaining_seconds: float | None
    aws_client: Callable[[str, Timeouts], Any]
    connect: Connector = open_admin
    clock: Callable[[], float] = time.monotonic

    def local_connection(self) -> KafkaConnection | None:
        """The guide's KAFKA_* variables, which replace the secret and broker lookups."""
        return from_environment(self.environ)

    @property
    def uses_iam(self) -> bool:
        """``KAFKA_AUTH_MODE=iam``: sign in with the function's role, read no secret."""
        return auth_mode(self.environ) == KAFKA_AUTH_IAM

    def open_admin(
        self, props: TopicProperties | AclProperties, local: KafkaConnection | None
    ) -> TopicAdmin:
        """Connect within the budget: the smaller of TimeoutSeconds and the Lambda's time
        left less a margin (so the function always gets to raise its reason)."""
        budget = float(props.timeout_seconds)
        if self.remaining_seconds is not None:
            budget = min(budget, self.remaining_seconds - LAMBDA_MARGIN_SECONDS)
        budget = max(budget, 1.0)
        deadline = self.clock() + budget
        timeouts = Timeouts.for_budget(budget)
        connection = local or _aws_connection(props, self, timeouts)
        return self.connect(connection, deadline=deadline, timeouts=timeouts)


def request_type_of(event: Mapping[str, Any]) -> str:
    """The event's RequestType: Create, Update or Delete."""
    request_type = event.get("RequestType")
    if request_type not in REQUEST_TYPES:
        raise EventError(
            f"RequestType: {echo(request_type)} is not one of {', '.join(REQUEST_TYPES)}"
        )
    return str(request_type)


def handle_event(event: Mapping[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Handle a Create, Update or Delete event; see the module docstring."""
    request_type = request_type_of(event)
    local = runtime.local_connection()
    if request_type == "Delete":
        return _delete(event, runtime, local)
    props = parse_properties(
        event.get("ResourceProperties"), local=local is not None, iam=runtime.uses_iam
    )
    physical_id = props.physical_resource_id(local.bootstrap_servers if local else None)
    desired = props.topic
    _warn_about_settings(desired)
    previous: TopicSpec | None = None
    replacing = True
    if request_type == "Update":
        current_id = event.get("PhysicalResourceId")
        if not current_id:
            raise EventError("PhysicalResourceId: required for Update")
        replacing = current_id != physical_id
        if replacing:
            log.info(
                "new physical resource id: CloudFormation will delete the old one under its "
                "own DeletionPolicy",
                extra={"old_physical_resource_id": current_id, "physical_resource_id": physical_id},
            )
        else:
            previous = _previous_spec(event.get("OldResourceProperties"), local is not None)
    admin = runtime.open_admin(props, local)
    try:
        if replacing:
            _create_or_adopt(admin, desired)
        else:
            actual = admin.describe_topic(desired.name, _config_keys(desired, previous))
            plan = plan_update(desired, previous, actual, _broker_count(admin, actual))
            _carry_out(plan, admin)
        if props.acl_principal is not None:
            _ensure_legacy_acls(admin, props.acl_principal, desired.name)
    finally:
        admin.close()
    data: dict[str, Any] = {
        "TopicName": desired.name,
        "Partitions": desired.partitions,
        "ReplicationFactor": desired.replication_factor,
    }
    if props.acl_principal is not None:
        data["AclPrincipal"] = props.acl_principal
    return {"PhysicalResourceId": physical_id, "Data": data}


def _ensure_legacy_acls(admin: TopicAdmin, principal: str, topic: str) -> None:
    """A topic resource with the legacy ``AclPrincipal`` (deployed by the previous version,
    or a rollback to its template) keeps the app user's ACLs as that version did: adopt what
    exists, create what is missing. Today's template leaves ACLs to ``Custom::KafkaAcls``."""
    ensure_bindings(admin, app_bindings(principal, topic))


def _create_or_adopt(admin: TopicAdmin, desired: TopicSpec) -> None:
    """Create, adopt or grow the topic; if it appears between describe and create, replan."""
    for attempt in (1, 2):
        actual = admin.describe_topic(desired.name, tuple(sorted(desired.configs)))
        plan = plan_create(desired, actual, _broker_count(admin, actual))
        try:
            _carry_out(plan, admin)
        except TopicExistsError:
            if attempt == 2:
                raise
            log.warning("topic appeared while creating it; planning again", extra=_topic(desired))
        else:
            return


def _delete(
    event: Mapping[str, Any], runtime: Runtime, local: KafkaConnection | None
) -> dict[str, Any]:
    """Delete never fails for a resource that never owned a topic (e.g. after a failed
    Create, whose properties may even be invalid): it touches nothing then."""
    physical_id = event.get("PhysicalResourceId")
    answer = {"PhysicalResourceId": physical_id}
    try:
        props = parse_properties(
            event.get("ResourceProperties"), local=local is not None, iam=runtime.uses_iam
        )
        owned = physical_id == props.physical_resource_id(
            local.bootstrap_servers if local else None
        )
    except PropertyError as exc:
        log.warning(
            "nothing to delete: the properties do not describe a topic this resource made",
            extra={"reason": str(exc), "physical_resource_id": physical_id},
        )
        return answer
    name = props.topic.name
    if not delete_needs_lookup(props.deletion_policy, owned):
        plan = plan_delete(name, props.deletion_policy, owned)
        log.info(plan.summary, extra={"plan": plan.summary, "physical_resource_id": physical_id})
        return answer
    admin = runtime.open_admin(props, local)
    try:
        exists = admin.describe_topic(name, ()) is not None
        _carry_out(plan_delete(name, props.deletion_policy, owned, exists), admin)
        # Here the policy is Delete and the resource owns the topic (delete_needs_lookup).
        if props.acl_principal is not None:
            _remove_legacy_acls(admin, props.acl_principal, name)
    finally:
        admin.close()
    return answer


def _remove_legacy_acls(admin: TopicAdmin, principal: str, topic: str) -> None:
    """With the topic gone (DeletionPolicy Delete), a legacy topic resource removes the app
    user's bindings on that topic. The cluster's IdempotentWrite binding stays: it is shared
    with the ACL resource (``Custom::KafkaAcls``), which adopted it and removes it itself."""
    remove_bindings(
        admin, tuple(b for b in app_bindings(principal, topic) if b.resource_type == "TOPIC")
    )


def _carry_out(plan: Plan, admin: TopicAdmin) -> None:
    log.info(plan.summary, extra={"plan": plan.summary, "actions": len(plan.actions)})
    for action in plan.actions:
        if isinstance(action, CreateTopic):
            admin.create_topic(action.spec)
        elif isinstance(action, AlterConfigs):
            admin.alter_configs(action.topic, action.set_values, action.delete_keys)
            log.info(
                "changed topic configs",
                extra={"topic": action.topic, "changed_configs": list(action.changed_keys)},
            )
        elif isinstance(action, IncreasePartitions):
            admin.create_partitions(action.topic, action.total)
        elif isinstance(action, DeleteTopic):
            if not admin.delete_topic(action.topic):
                log.info("topic was already gone", extra={"topic": action.topic})
        else:  # pragma: no cover - the Action union is closed
            raise TypeError(f"unknown action {action!r}")


def _broker_count(admin: TopicAdmin, actual: object) -> int:
    """Brokers matter only when creating a topic; skip the request otherwise."""
    return admin.broker_count() if actual is None else 0


def _config_keys(desired: TopicSpec, previous: TopicSpec | None) -> tuple[str, ...]:
    keys = set(desired.configs)
    if previous is not None:
        keys |= set(previous.configs)
    return tuple(sorted(keys))


def _previous_spec(raw: Any, local: bool) -> TopicSpec | None:
    """The topic as the template asked for it before; None if that cannot be read."""
    try:
        # Only the topic is read: the old properties may lack the secret (they were IAM's).
        return parse_properties(raw, local=local, iam=True).topic
    except PropertyError as exc:
        log.warning(
            "OldResourceProperties are not valid; configs they set are left alone",
            extra={"reason": str(exc)},
        )
        return None


def _aws_connection(
    props: TopicProperties | AclProperties, runtime: Runtime, timeouts: Timeouts
) -> KafkaConnection:
    """Brokers from the deploy-time string or ``kafka:GetBootstrapBrokers``; with IAM
    (``KAFKA_AUTH_MODE=iam``) the function's role signs in, otherwise the SCRAM username and
    password come from Secrets Manager (they live only in memory). The CA file variable is
    honoured as in ``connection.from_aws`` (MSK itself needs none)."""
    aws_client = runtime.aws_client
    cluster_arn, secret_arn = props.cluster_arn, props.secret_arn
    mode = auth_mode(runtime.environ)
    # Required by parse_properties when no local brokers are configured (the secret: SCRAM).
    assert cluster_arn is not None
    brokers = props.bootstrap_brokers or _look_up(
        f"kafka:GetBootstrapBrokers for {cluster_arn}",
        lambda: fetch_bootstrap_brokers(cluster_arn, aws_client("kafka", timeouts), mode),
    )
    if mode == KAFKA_AUTH_IAM:
        return msk_iam_connection(brokers, runtime.environ.get(CAFILE_VARIABLE))
    assert secret_arn is not None
    username, password = _look_up(
        f"secretsmanager:GetSecretValue for {secret_arn}",
        lambda: read_scram_secret(secret_arn, aws_client("secretsmanager", timeouts)),
    )
    return msk_scram_connection(brokers, username, password, runtime.environ.get(CAFILE_VARIABLE))


def _look_up(step: str, call: Callable[[], T]) -> T:
    # botocore comes with boto3, which only the MSK path needs (local runs never load it).
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        return call()
    except ConfigurationError as exc:
        key = PROPERTY_FOR_VARIABLE.get(exc.variable, exc.variable)
        raise LookupFailedError(f"{key}: {str(exc).removeprefix(exc.variable + ': ')}") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        detail = f"{error.get('Code', 'Error')}: {error.get('Message', '')}"
        raise LookupFailedError(f"{step} failed: {_one_line(detail)}") from None
    except BotoCoreError as exc:
        raise LookupFailedError(
            f"{step} failed: {_one_line(str(exc))} (check the VPC interface endpoint for the "
            "service and the security groups between the function and the endpoint)"
        ) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _warn_about_settings(desired: TopicSpec) -> None:
    min_isr = desired.configs.get("min.insync.replicas")
    if min_isr is not None and 1 < desired.replication_factor == int(min_isr):
        log.warning(
            "min.insync.replicas equals the replication factor: one broker down stops "
            "acks=all writes (MSK advises replication factor minus one)",
            extra=_topic(desired),
        )


def _topic(spec: TopicSpec) -> dict[str, Any]:
    return {"topic": spec.name}
