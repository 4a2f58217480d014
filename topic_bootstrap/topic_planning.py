"""Decide what to do with a topic by comparing the desired settings with what the cluster has.

Pure functions, no I/O. The caller describes the topic, asks ``plan_create``,
``plan_update`` or ``plan_delete`` for a :class:`Plan`, then carries out its actions in
order. Anything that cannot be done raises :class:`Refusal` before a single action runs.

Order of actions: configuration changes come before a partition increase. Config changes
can be refused by the broker (a bad value) and can be undone; a partition increase cannot.
Doing the irreversible step last means a failure leaves nothing half-changed that a
rollback could not restore.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

REDUCE_PARTITIONS = "Kafka cannot reduce partitions; create a new topic and migrate."
CHANGE_REPLICATION = (
    "Changing the replication factor needs a partition reassignment, which this resource "
    "does not do; create a new topic and migrate, or reassign partitions by hand."
)
# Kafka lists (cleanup.policy) compare as sets: "compact,delete" equals "delete,compact".
LIST_VALUED_CONFIGS = frozenset({"cleanup.policy"})


class DeletionPolicy(enum.Enum):
    RETAIN = "Retain"
    DELETE = "Delete"


class Refusal(Exception):  # noqa: N818 - a refusal is an outcome, not an error in this code
    """The request cannot be carried out; the message is the one-line reason."""


@dataclass(frozen=True)
class TopicSpec:
    """The topic as the template asks for it."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfigValue:
    """One configuration value as the broker reports it.

    ``overridden`` is True when the value is set on the topic itself (not inherited from
    the broker's defaults), which is what a DELETE operation would undo.
    """

    value: str | None
    overridden: bool


@dataclass(frozen=True)
class ActualTopic:
    """The topic as the cluster has it.

    ``configs`` holds only the keys that were asked for; a key that is missing is unknown
    (the broker did not report it), which counts as different from any desired value.
    """

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, ConfigValue] = field(default_factory=dict)


@dataclass(frozen=True)
class CreateTopic:
    spec: TopicSpec


@dataclass(frozen=True)
class IncreasePartitions:
    topic: str
    current: int
    total: int


@dataclass(frozen=True)
class AlterConfigs:
    """An incremental alter-configs call: SET these values, DELETE (reset) these keys."""

    topic: str
    set_values: Mapping[str, str]
    delete_keys: tuple[str, ...] = ()

    @property
    def changed_keys(self) -> tuple[str, ...]:
        return tuple(sorted({*self.set_values, *self.delete_keys}))


@dataclass(frozen=True)
class DeleteTopic:
    topic: str


Action = CreateTopic | IncreasePartitions | AlterConfigs | DeleteTopic


@dataclass(frozen=True)
class Plan:
    """Actions to carry out in order, and a one-line summary for the log."""

    actions: tuple[Action, ...]
    summary: str


def plan_create(desired: TopicSpec, actual: ActualTopic | None, broker_count: int) -> Plan:
    """Create request: create an absent topic, adopt a matching one, grow a smaller one."""
    if actual is None:
        _check_replication_fits(desired, broker_count)
        return Plan((CreateTopic(desired),), f"create topic {desired.name!r}")
    if actual.partitions > desired.partitions or actual.replication_factor != (
        desired.replication_factor
    ):
        reason = (
            CHANGE_REPLICATION
            if actual.replication_factor != desired.replication_factor
            else REDUCE_PARTITIONS
        )
        raise Refusal(
            f"Topic {desired.name!r} already exists with {_shape(actual)}; asked for "
            f"{_shape(desired)}. {reason}"
        )
    actions = _converge(desired, actual, removed_keys=())
    if not actions:
        return Plan((), f"adopt existing topic {desired.name!r} (no change)")
    return Plan(actions, f"adopt existing topic {desired.name!r} and {_describe(actions)}")


def plan_update(
    desired: TopicSpec,
    previous: TopicSpec | None,
    actual: ActualTopic | None,
    broker_count: int,
) -> Plan:
    """Update request for the same topic: grow partitions and change configs, nothing else.

    ``previous`` is the topic as the template asked for it before (OldResourceProperties);
    config keys it set that ``desired`` no longer sets are reset to the broker default.
    """
    if actual is None:
        _check_replication_fits(desired, broker_count)
        summary = f"create topic {desired.name!r} (it was missing from the cluster)"
        return Plan((CreateTopic(desired),), summary)
    problems = []
    if actual.partitions > desired.partitions:
        problems.append(
            f"Topic {desired.name!r} has {actual.partitions} partitions; asked for "
            f"{desired.partitions}. {REDUCE_PARTITIONS}"
        )
    if actual.replication_factor != desired.replication_factor:
        problems.append(
            f"Topic {desired.name!r} has replication factor {actual.replication_factor}; asked "
            f"for {desired.replication_factor}. {CHANGE_REPLICATION}"
        )
    if problems:
        raise Refusal(" ".join(problems))
    removed = tuple(sorted(set(previous.configs) - set(desired.configs))) if previous else ()
    actions = _converge(desired, actual, removed_keys=removed)
    if not actions:
        return Plan((), f"topic {desired.name!r} already as asked (no change)")
    return Plan(actions, f"{_describe(actions)} on topic {desired.name!r}")


def plan_delete(
    topic: str, policy: DeletionPolicy, owned: bool, exists: bool | None = None
) -> Plan:
    """Delete request.

    ``owned`` is False when the physical resource id is not the one this resource would
    have returned for these properties: a Delete that follows a failed Create (the topic
    may belong to someone else) or an id from elsewhere. Such a Delete touches nothing.
    ``exists`` is only needed (and only looked up) when the policy is Delete.
    """
    if not owned:
        return Plan((), f"nothing to delete: the resource never owned topic {topic!r}")
    if policy is DeletionPolicy.RETAIN:
        return Plan((), f"retain topic {topic!r} and its data (DeletionPolicy Retain)")
    if exists is None:
        raise ValueError("plan_delete with DeletionPolicy Delete needs to know if the topic exists")
    if not exists:
        return Plan((), f"topic {topic!r} is already absent")
    return Plan((DeleteTopic(topic),), f"delete topic {topic!r} (DeletionPolicy Delete)")


def delete_needs_lookup(policy: DeletionPolicy, owned: bool) -> bool:
    """Whether a Delete has to look at the cluster at all (Retain and foreign ids do not)."""
    return owned and policy is DeletionPolicy.DELETE


def normalize_config_value(key: str, value: str) -> str:
    """The form in which two values of ``key`` compare equal when Kafka treats them so."""
    text = value.strip()
    if key in LIST_VALUED_CONFIGS:
        return ",".join(sorted(part.strip() for part in text.split(",") if part.strip()))
    if text.lower() in ("true", "false"):
        return text.lower()
    return text


def _converge(
    desired: TopicSpec, actual: ActualTopic, removed_keys: tuple[str, ...]
) -> tuple[Action, ...]:
    actions: list[Action] = []
    set_values = {
        key: value
        for key, value in sorted(desired.configs.items())
        if not _config_matches(key, value, actual.configs.get(key))
    }
    delete_keys = tuple(
        key for key in removed_keys if key not in actual.configs or actual.configs[key].overridden
    )
    if set_values or delete_keys:
        actions.append(AlterConfigs(desired.name, set_values, delete_keys))
    if actual.partitions < desired.partitions:
        actions.append(IncreasePartitions(desired.name, actual.partitions, desired.partitions))
    return tuple(actions)


def _config_matches(key: str, wanted: str, reported: ConfigValue | None) -> bool:
    if reported is None or reported.value is None:
        return False
    return normalize_config_value(key, wanted) == normalize_config_value(key, reported.value)


def _check_replication_fits(desired: TopicSpec, broker_count: int) -> None:
    if desired.replication_factor > broker_count:
        raise Refusal(
            f"Cannot create topic {desired.name!r} with replication factor "
            f"{desired.replication_factor}: the cluster has {broker_count} "
            f"broker{'s' if broker_count != 1 else ''}."
        )


def _shape(topic: TopicSpec | ActualTopic) -> str:
    return f"{topic.partitions} partitions and replication factor {topic.replication_factor}"


def _describe(actions: tuple[Action, ...]) -> str:
    parts = []
    for action in actions:
        if isinstance(action, AlterConfigs):
            parts.append(f"change configs {', '.join(action.changed_keys)}")
        elif isinstance(action, IncreasePartitions):
            parts.append(f"increase partitions from {action.current} to {action.total}")
    return " and ".join(parts)
