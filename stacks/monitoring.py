"""Alarms and the overview dashboard of the cluster (and, via `add_alarm`, of its clients)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import EnvironmentConfig

KAFKA_NAMESPACE = "AWS/Kafka"
PERIOD = Duration.minutes(5)


class ClusterMonitoring(Construct):
    """Per-broker disk and CPU alarms and a CloudWatch dashboard for one MSK cluster.

    `alarm_topic` is the SNS topic from config (imported by ARN) or None; `add_alarm` wires an
    alarm to it. Other constructs add their own widgets with `dashboard.add_widgets(...)`.
    """

    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, id)
        settings = config.monitoring
        self.cluster_name = config.cluster_name
        self.alarm_topic: sns.ITopic | None = None
        if settings.alarm_topic_arn:
            self.alarm_topic = sns.Topic.from_topic_arn(
                self, "AlarmTopic", settings.alarm_topic_arn
            )
        self.alarms: list[cloudwatch.Alarm] = []
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=config.cluster_name,
            default_interval=Duration.hours(6),
        )

        brokers = [str(broker) for broker in range(1, config.broker_nodes + 1)]
        disk = {broker: self.broker_metric("KafkaDataLogsDiskUsed", broker) for broker in brokers}
        cpu = {broker: self.broker_metric("CpuUser", broker) for broker in brokers}
        for broker in brokers:
            self.add_alarm(
                disk[broker].create_alarm(
                    self,
                    f"DiskUsedBroker{broker}",
                    alarm_name=f"{config.cluster_name}-broker-{broker}-disk-used",
                    alarm_description=(
                        f"Broker {broker} of {config.cluster_name} has used more than "
                        f"{settings.disk_used_percent_threshold}% of its {config.volume_gib} GiB "
                        "data volume: raise volume_gib or shorten topic retention."
                    ),
                    threshold=settings.disk_used_percent_threshold,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=2,
                )
            )
            self.add_alarm(
                cpu[broker].create_alarm(
                    self,
                    f"CpuUserBroker{broker}",
                    alarm_name=f"{config.cluster_name}-broker-{broker}-cpu-user",
                    alarm_description=(
                        f"Broker {broker} of {config.cluster_name}: user CPU above "
                        f"{settings.cpu_user_percent_threshold}% for 15 minutes."
                    ),
                    threshold=settings.cpu_user_percent_threshold,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=3,
                )
            )

        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Data volume used (%) per broker",
                left=[metric.with_(label=f"broker {broker}") for broker, metric in disk.items()],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(
                        value=settings.disk_used_percent_threshold, label="alarm"
                    )
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="CPU user (%) per broker",
                left=[metric.with_(label=f"broker {broker}") for broker, metric in cpu.items()],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(
                        value=settings.cpu_user_percent_threshold, label="alarm"
                    )
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.SingleValueWidget(
                title="Partitions (t3.small: about 300 per broker, replicas included)",
                metrics=[
                    self.cluster_metric("GlobalPartitionCount"),
                    self.cluster_metric("OfflinePartitionsCount"),
                    self.cluster_metric("ActiveControllerCount"),
                ],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(
                title="Cluster alarms", alarms=list(self.alarms), width=12
            ),
        )

    def broker_metric(self, metric_name: str, broker: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=KAFKA_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"Cluster Name": self.cluster_name, "Broker ID": broker},
            statistic=cloudwatch.Stats.MAXIMUM,
            period=PERIOD,
        )

    def cluster_metric(self, metric_name: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=KAFKA_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"Cluster Name": self.cluster_name},
            statistic=cloudwatch.Stats.MAXIMUM,
            period=PERIOD,
        )

    def add_alarm(self, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        """Notify the configured topic (if any) when `alarm` fires, and keep it in `alarms`."""
        if self.alarm_topic is not None:
            action = cloudwatch_actions.SnsAction(self.alarm_topic)
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        self.alarms.append(alarm)
        return alarm
