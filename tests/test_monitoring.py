"""stacks/monitoring.py: per-broker disk and CPU alarms, the dashboard, the optional SNS topic."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk.assertions import Template

from stacks.monitoring import ClusterMonitoring
from tests.stack_fixtures import ENVIRONMENTS

pytestmark = pytest.mark.parametrize("env", ENVIRONMENTS)


def alarms_on(template: Template, metric_name: str) -> dict[str, dict]:
    """Alarm properties keyed by the broker id of their metric."""
    found = {}
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if properties.get("MetricName") == metric_name and properties["Namespace"] == "AWS/Kafka":
            dimensions = {item["Name"]: item["Value"] for item in properties["Dimensions"]}
            found[dimensions["Broker ID"]] = properties | {"dimensions": dimensions}
    return found


@pytest.mark.parametrize(
    ("metric_name", "threshold_key"),
    [
        ("KafkaDataLogsDiskUsed", "disk_used_percent_threshold"),
        ("CpuUser", "cpu_user_percent_threshold"),
    ],
)
def test_every_broker_has_an_alarm(
    env, metric_name, threshold_key, stack_templates, environment_configs
):
    config = environment_configs[env]
    alarms = alarms_on(stack_templates[env], metric_name)
    assert sorted(alarms) == [str(broker) for broker in range(1, config.broker_nodes + 1)]
    for broker, alarm in alarms.items():
        assert alarm["dimensions"] == {"Cluster Name": config.cluster_name, "Broker ID": broker}
        assert alarm["Threshold"] == getattr(config.monitoring, threshold_key)
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_alarms_notify_the_configured_topic_or_nobody(env, stack_templates, environment_configs):
    topic = environment_configs[env].monitoring.alarm_topic_arn
    alarms = stack_templates[env].find_resources("AWS::CloudWatch::Alarm").values()
    assert alarms
    for alarm in alarms:
        assert alarm["Properties"].get("AlarmActions") == ([topic] if topic else None)


def test_dashboard_is_named_for_the_cluster_and_shows_its_metrics(
    env, stack_templates, environment_configs
):
    config = environment_configs[env]
    (dashboard,) = stack_templates[env].find_resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == config.cluster_name
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric_name in (
        "KafkaDataLogsDiskUsed",
        "CpuUser",
        "GlobalPartitionCount",
        "OfflinePartitionsCount",
    ):
        assert metric_name in body


def test_exposes_topic_and_dashboard_for_other_constructs(env, synthesized, environment_configs):
    monitoring = synthesized.stacks[env].monitoring
    assert isinstance(monitoring.dashboard, cloudwatch.Dashboard)
    topic = environment_configs[env].monitoring.alarm_topic_arn
    assert (monitoring.alarm_topic.topic_arn if monitoring.alarm_topic else None) == topic


def test_add_alarm_wires_another_alarm_to_the_topic(env, environment_configs):
    config = environment_configs[env]
    stack = cdk.Stack(
        cdk.App(), "Probe", env=cdk.Environment(account=config.account, region=config.region)
    )
    monitoring = ClusterMonitoring(stack, "Monitoring", config=config)
    extra = cloudwatch.Alarm(
        stack,
        "Extra",
        metric=cloudwatch.Metric(namespace="Probe", metric_name="Errors"),
        threshold=1,
        evaluation_periods=1,
    )
    assert monitoring.add_alarm(extra) is extra
    assert monitoring.alarms[-1] is extra
    properties = Template.from_stack(stack).to_json()["Resources"]
    (extra_alarm,) = [
        resource["Properties"]
        for resource in properties.values()
        if resource["Properties"].get("MetricName") == "Errors"
    ]
    topic = config.monitoring.alarm_topic_arn
    assert extra_alarm.get("AlarmActions") == ([topic] if topic else None)
