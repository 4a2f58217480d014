"""The producer Lambda and everything that feeds it: SQS queue, EventBridge bus, direct invokes.

Three ways in, all handled by `handler.handler` (asset root `lambda_src/`):

- direct invocation (`lambda:InvokeFunction`): synchronous callers get per-message results;
  asynchronous ones (`InvocationType=Event`) retry `ASYNC_RETRY_ATTEMPTS` times, then the
  invocation record lands on the failed-invocations queue (on-failure destination);
- the SQS queue (`sqs:SendMessage`): batches with `ReportBatchItemFailures`, failed records
  retried, after `MAX_RECEIVE_COUNT` receives moved to the dead-letter queue; records that can
  never succeed (invalid) are sent by the handler to the rejected-messages queue with the reason;
- the EventBridge bus (`events:PutEvents`): events with detail-type `DocumentAccessException`
  and the message as `detail`; events EventBridge could not deliver go to the
  failed-invocations queue too (with EventBridge's ERROR_CODE/RULE_ARN message attributes,
  where an on-failure record has `requestContext`/`requestPayload` instead).

Encryption: every queue uses one customer-managed KMS key (rotation on) rather than SQS-managed
SSE: both satisfy cdk-nag SQS2, but the CMK keeps reading the queues behind an explicit
`kms:Decrypt` grant (and in CloudTrail), which is the team's standard; the key policy lets
EventBridge write only for this construct's rule.
"""

from __future__ import annotations

import dataclasses
import re

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from document_exceptions import connection, contract
from document_exceptions.names import (
    EVENTBRIDGE_DETAIL_TYPE,
    KAFKA_AUTH_VARIABLE,
    LOG_LEVEL_VARIABLE,
    METRICS_NAMESPACE,
    METRICS_NAMESPACE_VARIABLE,
    PRODUCER_VARIABLE_PREFIX,
    REJECTED_QUEUE_URL_VARIABLE,
    SERVICE_NAME,
    SERVICE_NAME_VARIABLE,
)
from stacks.assets import PRODUCER_ASSET, RUNTIME
from stacks.config import ProducerFunctionSettings
from stacks.kafka_access import KafkaClientAccess
from stacks.log_groups import EncryptedLogGroups
from stacks.vpc_function import execution_role, kafka_client_security_group

HANDLER = "handler.handler"
# The producer's Kafka actions under MSK IAM access control (Connect is always added).
PRODUCER_CLUSTER_ACTIONS = ("kafka-cluster:WriteDataIdempotently",)
PRODUCER_TOPIC_ACTIONS = ("kafka-cluster:DescribeTopic", "kafka-cluster:WriteData")

EVENT_RULE_NAME = "document-access-exceptions"
MAX_RECEIVE_COUNT = 5
VISIBILITY_TIMEOUT_FACTOR = 6
ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE = Duration.hours(1)
PARKED_MESSAGE_RETENTION = Duration.days(14)
# Producer overrides are `ProducerSettings` fields (lower snake case); security and where to
# connect come from the secret and the cluster only, and a password never enters the environment.
_OVERRIDE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FORBIDDEN_OVERRIDE = re.compile(r"password|secret|sasl|ssl|security|bootstrap|credential")


class ProducerFunction(Construct):
    """Publishes document-access exceptions to Kafka; see the module docstring for the inputs.

    Attributes: `function`, `security_group`, `cluster_ingress` (its 9096 rule on the cluster's
    SG), `queue`, `dead_letter_queue`, `rejected_queue`, `failed_invocations_queue`,
    `queue_key`, `event_bus`, `rule`, `log_group`, `alarms`, `client_policy` (a managed policy,
    attached to nothing, for the Django app's role).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        access: KafkaClientAccess,
        topic_name: str,
        settings: ProducerFunctionSettings,
        log_groups: EncryptedLogGroups,
        removal_policy: RemovalPolicy,
        alarm_topic: sns.ITopic | None = None,
        dashboard: cloudwatch.Dashboard | None = None,
    ) -> None:
        _check_settings(settings)
        super().__init__(scope, id)
        timeout = Duration.seconds(settings.timeout_seconds)
        batching_window = Duration.seconds(settings.sqs_max_batching_window_seconds)

        self.queue_key = kms.Key(
            self,
            "QueueKey",
            description="Encrypts the document-exceptions producer queues",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.dead_letter_queue = self._queue(
            "DeadLetterQueue", removal_policy, retention_period=PARKED_MESSAGE_RETENTION
        )
        self.queue = self._queue(
            "Queue",
            removal_policy,
            # AWS guidance for SQS event sources: six times the function timeout plus the
            # batching window, so a batch is not redelivered while a retry is still running.
            visibility_timeout=Duration.seconds(
                VISIBILITY_TIMEOUT_FACTOR * settings.timeout_seconds
                + settings.sqs_max_batching_window_seconds
            ),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MAX_RECEIVE_COUNT, queue=self.dead_letter_queue
            ),
        )
        self.rejected_queue = self._queue(
            "RejectedQueue", removal_policy, retention_period=PARKED_MESSAGE_RETENTION
        )
        self.failed_invocations_queue = self._queue(
            "FailedInvocationsQueue", removal_policy, retention_period=PARKED_MESSAGE_RETENTION
        )

        self.security_group, self.cluster_ingress = kafka_client_security_group(
            self,
            access,
            f"Producer Lambda: out to the MSK brokers ({access.port}) and AWS API endpoints",
        )

        self.log_group = log_groups.create(self, "LogGroup", removal_policy=removal_policy)
        self.function = lambda_.Function(
            self,
            "Function",
            description="Publishes document-access exceptions to the Kafka topic on MSK",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=HANDLER,
            code=PRODUCER_ASSET.code(),
            timeout=timeout,
            memory_size=settings.memory_mb,
            reserved_concurrent_executions=settings.reserved_concurrency,
            vpc=access.vpc,
            vpc_subnets=access.subnets,
            security_groups=[self.security_group],
            log_group=self.log_group,
            role=execution_role(
                self,
                "FunctionRole",
                log_group=self.log_group,
                in_vpc=True,
                description="Producer Lambda (in the VPC)",
            ),
            environment=_environment(access, topic_name, settings, self.rejected_queue),
            on_failure=destinations.SqsDestination(self.failed_invocations_queue),
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            max_event_age=ASYNC_MAX_EVENT_AGE,
        )
        access.grant_connect(self.function)
        # With IAM: connect, the idempotent producer's InitProducerId on the cluster
        # (WriteDataIdempotently, which MSK asks for on Kafka 2.8+, KIP-679), and on the topic
        # only metadata and writes.
        access.grant_kafka(
            self.function,
            access.cluster_statement(PRODUCER_CLUSTER_ACTIONS),
            access.topic_statement(topic_name, PRODUCER_TOPIC_ACTIONS),
        )
        self.rejected_queue.grant_send_messages(self.function)
        # On the function resource only, not its role: the secret's key policy names the role,
        # and the SCRAM association (one of the dependencies) references the secret.
        self.function.node.default_child.node.add_dependency(
            *access.dependencies, self.cluster_ingress
        )

        self.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=settings.sqs_batch_size,
                max_batching_window=batching_window,
                report_batch_item_failures=True,
                # Keeps the poller within the reserved concurrency: throttled batches would
                # count as receives and reach the dead-letter queue without being processed.
                max_concurrency=(
                    settings.reserved_concurrency if settings.reserved_concurrency >= 2 else None
                ),
            )
        )

        self.event_bus = events.EventBus(
            self, "EventBus", description="Document-access exceptions for the Kafka producer"
        )
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=self.event_bus,
            rule_name=EVENT_RULE_NAME,
            description=f"detail-type {EVENTBRIDGE_DETAIL_TYPE} to the producer Lambda",
            event_pattern=events.EventPattern(detail_type=[EVENTBRIDGE_DETAIL_TYPE]),
            targets=[
                events_targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.failed_invocations_queue,
                    retry_attempts=ASYNC_RETRY_ATTEMPTS,
                    max_event_age=ASYNC_MAX_EVENT_AGE,
                )
            ],
        )
        self._allow_eventbridge_to_use_key()

        self.client_policy = self._client_policy()
        self.alarms = self._alarms(alarm_topic)
        if dashboard is not None:
            dashboard.add_widgets(*self._widgets())
        self._outputs()
        self._suppress_nag_findings()

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` invoke the function directly (sync or async)."""
        return self.function.grant_invoke(grantee)

    def grant_send_messages(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` send messages to the queue (includes the key grant)."""
        return self.queue.grant_send_messages(grantee)

    def grant_put_events(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` put events on the bus."""
        return self.event_bus.grant_put_events_to(grantee)

    def _queue(self, id: str, removal_policy: RemovalPolicy, **kwargs: object) -> sqs.Queue:
        return sqs.Queue(
            self,
            id,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.queue_key,
            enforce_ssl=True,
            removal_policy=removal_policy,
            **kwargs,
        )

    def _allow_eventbridge_to_use_key(self) -> None:
        # The rule's ARN is spelled out (not `rule.rule_arn`): the key policy is part of the
        # key, which the queues (and so the rule's target) depend on.
        stack = Stack.of(self)
        rule_arn = stack.format_arn(
            service="events",
            resource="rule",
            resource_name=f"{self.event_bus.event_bus_name}/{EVENT_RULE_NAME}",
        )
        self.queue_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeDeadLetters",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"ArnEquals": {"aws:SourceArn": rule_arn}},
            )
        )

    def _client_policy(self) -> iam.ManagedPolicy:
        return iam.ManagedPolicy(
            self,
            "ClientPolicy",
            description=(
                "Attach to a role (e.g. the Django app's) that reports document-access "
                "exceptions: invoke the producer, send to its queue, or put events on its bus"
            ),
            statements=[
                iam.PolicyStatement(
                    sid="InvokeProducer",
                    actions=["lambda:InvokeFunction"],
                    resources=[self.function.function_arn],
                ),
                iam.PolicyStatement(
                    sid="SendToQueue",
                    actions=["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                    resources=[self.queue.queue_arn],
                ),
                iam.PolicyStatement(
                    sid="EncryptForQueue",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[self.queue_key.key_arn],
                ),
                iam.PolicyStatement(
                    sid="PutEvents",
                    actions=["events:PutEvents"],
                    resources=[self.event_bus.event_bus_arn],
                    # Only the events the rule forwards to the producer.
                    conditions={"StringEquals": {"events:detail-type": EVENTBRIDGE_DETAIL_TYPE}},
                ),
            ],
        )

    def _alarms(self, alarm_topic: sns.ITopic | None) -> list[cloudwatch.Alarm]:
        period = Duration.minutes(5)
        at_least_one = {
            "threshold": 1,
            "evaluation_periods": 1,
            "comparison_operator": cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            "treat_missing_data": cloudwatch.TreatMissingData.NOT_BREACHING,
        }
        definitions = {
            "ErrorsAlarm": (
                self.function.metric_errors(period=period, statistic="Sum"),
                "The producer Lambda raised errors (see its log group)",
            ),
            "ThrottlesAlarm": (
                self.function.metric_throttles(period=period, statistic="Sum"),
                "The producer Lambda was throttled: reserved concurrency too low for the load",
            ),
            "DeadLetterQueueAlarm": (
                self._depth(self.dead_letter_queue),
                f"Messages failed {MAX_RECEIVE_COUNT} times and reached the dead-letter queue",
            ),
            "RejectedQueueAlarm": (
                self._depth(self.rejected_queue),
                "Invalid messages were rejected (the reason is on each message)",
            ),
            "FailedInvocationsQueueAlarm": (
                self._depth(self.failed_invocations_queue),
                "Async invocations or EventBridge deliveries failed after retries",
            ),
        }
        alarms = []
        for alarm_id, (metric, description) in definitions.items():
            alarm = metric.create_alarm(
                self, alarm_id, alarm_description=description, **at_least_one
            )
            if alarm_topic is not None:
                alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
            alarms.append(alarm)
        return alarms

    @staticmethod
    def _depth(queue: sqs.IQueue) -> cloudwatch.IMetric:
        return queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic="Maximum"
        )

    def _widgets(self) -> list[cloudwatch.IWidget]:
        fn = self.function
        return [
            cloudwatch.GraphWidget(
                title="Producer invocations",
                left=[fn.metric_invocations(), fn.metric_errors(), fn.metric_throttles()],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Producer duration (p50, p99)",
                left=[fn.metric_duration(statistic="p50"), fn.metric_duration(statistic="p99")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Producer queues (messages visible)",
                left=[
                    self._depth(queue).with_(label=label)
                    for label, queue in (
                        ("queue", self.queue),
                        ("dead letters", self.dead_letter_queue),
                        ("rejected", self.rejected_queue),
                        ("failed invocations", self.failed_invocations_queue),
                    )
                ],
                right=[self.queue.metric_approximate_age_of_oldest_message()],
                width=8,
            ),
        ]

    def _outputs(self) -> None:
        outputs = {
            "FunctionArn": (self.function.function_arn, "Producer Lambda ARN"),
            "FunctionName": (self.function.function_name, "Producer Lambda name"),
            "QueueUrl": (self.queue.queue_url, "Send exception messages here (SQS)"),
            "RejectedQueueUrl": (self.rejected_queue.queue_url, "Invalid messages, with reasons"),
            "DeadLetterQueueUrl": (
                self.dead_letter_queue.queue_url,
                "Messages that failed every retry; replay with `document-exceptions replay`",
            ),
            "EventBusName": (
                self.event_bus.event_bus_name,
                f"Put events here with detail-type {EVENTBRIDGE_DETAIL_TYPE} and the message "
                "as detail",
            ),
            "ClientPolicyArn": (
                self.client_policy.managed_policy_arn,
                "Managed policy for the Django app's role: invoke, send to queue, put events",
            ),
        }
        for output_id, (value, description) in outputs.items():
            output = CfnOutput(self, output_id, value=value, description=description)
            # A fixed name (`ProducerQueueUrl`) instead of CDK's path-and-hash one
            # (`ProducerQueueUrlEAC02EB3`), so the docs and scripts can name it. Outputs are
            # not resources: renaming one replaces nothing.
            output.override_logical_id(f"{self.node.id}{output_id}")

    def _suppress_nag_findings(self) -> None:
        NagSuppressions.add_resource_suppressions(
            self.function.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Queue.grant_send_messages (rejected queue, on-failure destination) on a "
                        "CMK-encrypted queue grants kms:GenerateDataKey* and kms:ReEncrypt* on "
                        "that one key ARN; the wildcards only cover the key-usage variants"
                    ),
                    applies_to=["Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"],
                )
            ],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            [self.rejected_queue, self.failed_invocations_queue],
            [
                NagPackSuppression(
                    id="AwsSolutions-SQS3",
                    reason=(
                        "Terminal parking queue (rejected messages, failed async invocations "
                        "and EventBridge deliveries): read by operators, alarmed at depth > 0; "
                        "a dead-letter queue behind it would only hide its messages"
                    ),
                )
            ],
            apply_to_children=True,
        )


def _check_settings(settings: ProducerFunctionSettings) -> None:
    if settings.sqs_batch_size > 10 and settings.sqs_max_batching_window_seconds < 1:
        raise ValueError(
            f"producer.sqs_batch_size {settings.sqs_batch_size} needs "
            "producer.sqs_max_batching_window_seconds of at least 1 (SQS event source rule)"
        )
    if not settings.producer_overrides:
        return
    from document_exceptions.publisher import ProducerSettings  # noqa: PLC0415 - imports kafka

    known = {setting.name for setting in dataclasses.fields(ProducerSettings)}
    for key in settings.producer_overrides:
        path = f"producer.producer_overrides.{key}"
        if _FORBIDDEN_OVERRIDE.search(key) or not _OVERRIDE_NAME.match(key):
            raise ValueError(
                f"{path}: security and connection settings come from the SCRAM secret and the "
                "cluster, not from overrides"
            )
        if key not in known:
            raise ValueError(f"{path}: not a producer setting (known: {', '.join(sorted(known))})")


def _environment(
    access: KafkaClientAccess,
    topic_name: str,
    settings: ProducerFunctionSettings,
    rejected_queue: sqs.IQueue,
) -> dict[str, str]:
    """The function's environment: where to connect and how to behave, never a password."""
    message = contract.ENVIRONMENT_VARIABLES
    # With IAM the function signs in with its role: no secret to name, and the auth mode
    # tells the runtime to use AWS_MSK_IAM on the IAM broker string.
    authentication = (
        {KAFKA_AUTH_VARIABLE: access.auth_mode}
        if access.uses_iam
        else {connection.SECRET_ARN_VARIABLE: access.secret.secret_arn}
    )
    environment = {
        **authentication,
        connection.BOOTSTRAP_BROKERS_VARIABLE: access.bootstrap_brokers,
        connection.CLUSTER_ARN_VARIABLE: access.cluster_arn,
        message["topic"]: topic_name,
        message["key_by"]: settings.record_key_mode,
        message["default_source"]: settings.default_source,
        REJECTED_QUEUE_URL_VARIABLE: rejected_queue.queue_url,
        SERVICE_NAME_VARIABLE: SERVICE_NAME,
        METRICS_NAMESPACE_VARIABLE: METRICS_NAMESPACE,
        LOG_LEVEL_VARIABLE: "INFO",
        **access.endpoint_environment,
    }
    for key, value in sorted(settings.producer_overrides.items()):
        environment[PRODUCER_VARIABLE_PREFIX + key.upper()] = value
    return environment
