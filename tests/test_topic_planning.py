"""The planning rows of issue 4, one test each: desired vs actual -> actions or a refusal."""

from __future__ import annotations

import pytest

from tests.topic_bootstrap_asset import load

planning = load("topic_planning")
ActualTopic = planning.ActualTopic
AlterConfigs = planning.AlterConfigs
ConfigValue = planning.ConfigValue
CreateTopic = planning.CreateTopic
DeleteTopic = planning.DeleteTopic
DeletionPolicy = planning.DeletionPolicy
IncreasePartitions = planning.IncreasePartitions
Refusal = planning.Refusal
TopicSpec = planning.TopicSpec

DESIRED = TopicSpec("DocumentExceptions", 3, 2, {"retention.ms": "604800000"})
MATCHING_CONFIGS = {"retention.ms": ConfigValue("604800000", overridden=True)}
TWO_BROKERS = 2


def actual(partitions: int = 3, replication: int = 2, configs=None) -> ActualTopic:
    return ActualTopic(
        "DocumentExceptions",
        partitions,
        replication,
        MATCHING_CONFIGS if configs is None else configs,
    )


# Create


def test_create_when_absent_creates_the_topic_as_asked():
    plan = planning.plan_create(DESIRED, None, TWO_BROKERS)

    assert plan.actions == (CreateTopic(DESIRED),)


def test_create_refuses_a_replication_factor_above_the_broker_count():
    with pytest.raises(Refusal) as refused:
        planning.plan_create(DESIRED, None, broker_count=1)

    assert str(refused.value) == (
        "Cannot create topic 'DocumentExceptions' with replication factor 2: "
        "the cluster has 1 broker."
    )


def test_create_adopts_a_topic_with_the_same_settings_without_changing_it():
    plan = planning.plan_create(DESIRED, actual(), TWO_BROKERS)

    assert plan.actions == ()
    assert "adopt" in plan.summary


def test_create_grows_an_existing_topic_with_fewer_partitions():
    plan = planning.plan_create(DESIRED, actual(partitions=1), TWO_BROKERS)

    assert plan.actions == (IncreasePartitions("DocumentExceptions", 1, 3),)


def test_create_refuses_an_existing_topic_with_more_partitions_saying_what_exists_and_was_asked():
    with pytest.raises(Refusal) as refused:
        planning.plan_create(DESIRED, actual(partitions=6), TWO_BROKERS)

    assert str(refused.value) == (
        "Topic 'DocumentExceptions' already exists with 6 partitions and replication factor 2; "
        "asked for 3 partitions and replication factor 2. "
        "Kafka cannot reduce partitions; create a new topic and migrate."
    )


def test_create_refuses_an_existing_topic_with_another_replication_factor():
    with pytest.raises(Refusal) as refused:
        planning.plan_create(DESIRED, actual(replication=1), TWO_BROKERS)

    message = str(refused.value)
    assert message.startswith(
        "Topic 'DocumentExceptions' already exists with 3 partitions and replication factor 1; "
        "asked for 3 partitions and replication factor 2. "
    )
    assert "partition reassignment" in message


def test_create_adopts_and_sets_configs_that_differ():
    existing = actual(configs={"retention.ms": ConfigValue("86400000", overridden=True)})

    plan = planning.plan_create(DESIRED, existing, TWO_BROKERS)

    assert plan.actions == (AlterConfigs("DocumentExceptions", {"retention.ms": "604800000"}),)


# Update


def test_update_increases_partitions_with_create_partitions():
    plan = planning.plan_update(
        TopicSpec("DocumentExceptions", 6, 2, DESIRED.configs), DESIRED, actual(), TWO_BROKERS
    )

    assert plan.actions == (IncreasePartitions("DocumentExceptions", 3, 6),)


def test_update_refuses_a_partition_decrease_before_touching_anything():
    desired = TopicSpec("DocumentExceptions", 2, 2, {"retention.ms": "1000"})

    with pytest.raises(Refusal) as refused:
        # Configs differ too: the refusal must come instead of any action, not after some.
        planning.plan_update(desired, DESIRED, actual(), TWO_BROKERS)

    assert str(refused.value) == (
        "Topic 'DocumentExceptions' has 3 partitions; asked for 2. "
        "Kafka cannot reduce partitions; create a new topic and migrate."
    )


def test_update_refuses_a_replication_factor_change():
    desired = TopicSpec("DocumentExceptions", 3, 3, DESIRED.configs)

    with pytest.raises(Refusal) as refused:
        planning.plan_update(desired, DESIRED, actual(), 3)

    assert str(refused.value).startswith(
        "Topic 'DocumentExceptions' has replication factor 2; asked for 3. "
        "Changing the replication factor needs a partition reassignment"
    )


def test_update_changes_only_the_configs_that_differ_and_reports_their_keys():
    desired = TopicSpec(
        "DocumentExceptions", 3, 2, {"retention.ms": "86400000", "cleanup.policy": "delete"}
    )
    reported = {
        "retention.ms": ConfigValue("604800000", overridden=True),
        "cleanup.policy": ConfigValue("delete", overridden=False),
    }

    plan = planning.plan_update(desired, DESIRED, actual(configs=reported), TWO_BROKERS)

    (change,) = plan.actions
    assert change == AlterConfigs("DocumentExceptions", {"retention.ms": "86400000"})
    assert change.changed_keys == ("retention.ms",)
    assert "retention.ms" in plan.summary


def test_update_resets_a_config_key_the_template_no_longer_sets():
    desired = TopicSpec("DocumentExceptions", 3, 2, {})
    previous = TopicSpec("DocumentExceptions", 3, 2, {"retention.ms": "1", "segment.ms": "5"})
    reported = {
        "retention.ms": ConfigValue("1", overridden=True),
        # Already the broker's default: nothing to reset.
        "segment.ms": ConfigValue("604800000", overridden=False),
    }

    plan = planning.plan_update(desired, previous, actual(configs=reported), TWO_BROKERS)

    assert plan.actions == (AlterConfigs("DocumentExceptions", {}, ("retention.ms",)),)


def test_update_changes_configs_before_the_irreversible_partition_increase():
    desired = TopicSpec("DocumentExceptions", 6, 2, {"retention.ms": "1000"})

    plan = planning.plan_update(desired, DESIRED, actual(), TWO_BROKERS)

    assert [type(action) for action in plan.actions] == [AlterConfigs, IncreasePartitions]


def test_update_recreates_a_topic_that_disappeared_from_the_cluster():
    plan = planning.plan_update(DESIRED, DESIRED, None, TWO_BROKERS)

    assert plan.actions == (CreateTopic(DESIRED),)


def test_update_without_differences_does_nothing():
    plan = planning.plan_update(DESIRED, DESIRED, actual(), TWO_BROKERS)

    assert plan.actions == ()


def test_update_treats_an_unreported_config_as_different():
    plan = planning.plan_update(DESIRED, DESIRED, actual(configs={}), TWO_BROKERS)

    assert plan.actions == (AlterConfigs("DocumentExceptions", {"retention.ms": "604800000"}),)


@pytest.mark.parametrize(
    ("key", "wanted", "reported"),
    [
        ("cleanup.policy", "delete,compact", "compact,delete"),
        ("unclean.leader.election.enable", "FALSE", "false"),
        ("retention.ms", " 1000 ", "1000"),
    ],
)
def test_values_kafka_treats_as_equal_are_not_changed(key, wanted, reported):
    desired = TopicSpec("DocumentExceptions", 3, 2, {key: wanted})
    existing = actual(configs={key: ConfigValue(reported, overridden=True)})

    assert planning.plan_update(desired, desired, existing, TWO_BROKERS).actions == ()


# Delete


def test_delete_with_retain_leaves_the_topic():
    plan = planning.plan_delete("DocumentExceptions", DeletionPolicy.RETAIN, owned=True)

    assert plan.actions == ()
    assert not planning.delete_needs_lookup(DeletionPolicy.RETAIN, owned=True)


def test_delete_with_delete_deletes_an_existing_topic():
    plan = planning.plan_delete("DocumentExceptions", DeletionPolicy.DELETE, True, exists=True)

    assert plan.actions == (DeleteTopic("DocumentExceptions"),)
    assert planning.delete_needs_lookup(DeletionPolicy.DELETE, owned=True)


def test_delete_of_an_absent_topic_succeeds_without_action():
    plan = planning.plan_delete("DocumentExceptions", DeletionPolicy.DELETE, True, exists=False)

    assert plan.actions == ()


def test_delete_after_a_failed_create_touches_nothing_even_with_delete_policy():
    plan = planning.plan_delete("DocumentExceptions", DeletionPolicy.DELETE, owned=False)

    assert plan.actions == ()
    assert not planning.delete_needs_lookup(DeletionPolicy.DELETE, owned=False)


def test_delete_with_delete_policy_must_be_told_whether_the_topic_exists():
    with pytest.raises(ValueError, match="needs to know"):
        planning.plan_delete("DocumentExceptions", DeletionPolicy.DELETE, owned=True)
