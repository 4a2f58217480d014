"""Carry out one CloudFormation event for the Kafka ACLs of the app user and the brokers
(``Custom::KafkaAcls``; the bindings and their sources are in :mod:`topic_acls`).

The stack creates this resource after the topic (it depends on it), in both topic modes
(``Custom::KafkaTopic`` or MSK's ``AWS::MSK::Topic``), whenever this app signs in with IAM.

- Create and Update describe the principals' ACLs, adopt what exists and create only what
  is missing: bindings made by hand, or by the topic resource of the previous version
  (``AclPrincipal``), become this resource's without a moment in which they are gone.
- An Update that changes what is kept (a new topic name or principal, the brokers' bindings
  dropped) removes the bindings no longer kept, after creating the new ones, when the old
  properties' DeletionPolicy is Delete; with Retain they stay (like a retained topic). The
  physical id is per cluster, so such a change is never a replacement whose Delete would
  take away the cluster bindings both resources share.
- Delete removes exactly the kept bindings (exact filters) under DeletionPolicy Delete, and
  touches nothing under Retain, for a resource that never made them (a failed Create), or
  for a function no longer signing in with IAM (moving to ``kafka_auth`` "scram": the
  README says how to remove them).

The handler signs in with IAM only (``KAFKA_AUTH_MODE=iam``): as the SCRAM app user it
would lock itself out of the cluster by creating these ACLs (topic_acls).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from document_exceptions.connection import ConfigurationError, KafkaConnection
from document_exceptions.names import KAFKA_AUTH_IAM, KAFKA_AUTH_VARIABLE
from topic_acls import AclBinding, ensure_bindings, remove_bindings, resource_bindings
from topic_planning import DeletionPolicy
from topic_properties import AclProperties, PropertyError, parse_acl_properties
from topic_resource import EventError, Runtime, request_type_of

log = logging.getLogger(__name__)


def handle_acl_event(event: Mapping[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Handle a Create, Update or Delete event; see the module docstring."""
    request_type = request_type_of(event)
    local = runtime.local_connection()
    if request_type == "Delete":
        return _delete(event, runtime, local)
    props = parse_acl_properties(event.get("ResourceProperties"), local=local is not None)
    if not runtime.uses_iam:
        raise ConfigurationError(
            KAFKA_AUTH_VARIABLE,
            f"the ACL resource signs in with IAM only ({KAFKA_AUTH_VARIABLE}={KAFKA_AUTH_IAM}); "
            "as the SASL/SCRAM app user it would lock itself out",
        )
    physical_id = props.physical_resource_id(local.bootstrap_servers if local else None)
    desired = bindings_of(props)
    stale: tuple[AclBinding, ...] = ()
    if request_type == "Update":
        current_id = event.get("PhysicalResourceId")
        if not current_id:
            raise EventError("PhysicalResourceId: required for Update")
        if current_id == physical_id:
            stale = _stale(event.get("OldResourceProperties"), local is not None, desired)
    admin = runtime.open_admin(props, local)
    try:
        ensure_bindings(admin, desired)
        if stale:
            remove_bindings(admin, stale)
    finally:
        admin.close()
    data = {"AppPrincipal": props.app_principal, "TopicName": props.topic_name}
    return {"PhysicalResourceId": physical_id, "Data": data}


def bindings_of(props: AclProperties) -> tuple[AclBinding, ...]:
    """What a resource with these properties keeps, in creation order."""
    return resource_bindings(props.app_principal, props.topic_name, brokers=props.brokers)


def _stale(raw: Any, local: bool, desired: tuple[AclBinding, ...]) -> tuple[AclBinding, ...]:
    """The bindings the old properties kept and the new ones do not, when the old
    DeletionPolicy lets them go; nothing when the old properties cannot be read."""
    try:
        previous = parse_acl_properties(raw, local=local)
    except PropertyError as exc:
        log.warning(
            "OldResourceProperties are not valid; no ACL is removed",
            extra={"reason": str(exc)},
        )
        return ()
    stale = tuple(b for b in bindings_of(previous) if b not in desired)
    if stale and previous.deletion_policy is not DeletionPolicy.DELETE:
        log.info(
            "ACLs no longer kept stay (DeletionPolicy Retain)",
            extra={"acls": [b.describe() for b in stale]},
        )
        return ()
    return stale


def _delete(
    event: Mapping[str, Any], runtime: Runtime, local: KafkaConnection | None
) -> dict[str, Any]:
    physical_id = event.get("PhysicalResourceId")
    answer = {"PhysicalResourceId": physical_id}
    try:
        props = parse_acl_properties(event.get("ResourceProperties"), local=local is not None)
        owned = physical_id == props.physical_resource_id(
            local.bootstrap_servers if local else None
        )
    except PropertyError as exc:
        log.warning(
            "nothing to delete: the properties do not describe ACLs this resource made",
            extra={"reason": str(exc), "physical_resource_id": physical_id},
        )
        return answer
    kept = bindings_of(props)
    if props.deletion_policy is not DeletionPolicy.DELETE or not owned:
        log.info(
            "ACLs left in place",
            extra={
                "deletion_policy": props.deletion_policy.value,
                "owned": owned,
                "acls": [b.describe() for b in kept],
            },
        )
        return answer
    if not runtime.uses_iam:
        log.warning(
            "ACLs left in place: the function no longer signs in with IAM; remove them with "
            "an admin identity (README, Kafka ACLs of the SCRAM user)",
            extra={"acls": [b.describe() for b in kept]},
        )
        return answer
    admin = runtime.open_admin(props, local)
    try:
        remove_bindings(admin, kept)
    finally:
        admin.close()
    return answer
