"""CDK assertions for `stacks.producer_function.ProducerFunction`: one synth, bundling skipped."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions, RegexAppliesTo

from document_exceptions import names
from document_exceptions.connection import (
    BOOTSTRAP_BROKERS_VARIABLE,
    CLUSTER_ARN_VARIABLE,
    SECRET_ARN_VARIABLE,
)
from document_exceptions.contract import ContractSettings
from document_exceptions.publisher import ProducerSettings
from stacks.assets import PRODUCER_ASSET
from stacks.config import ProducerFunctionSettings
from stacks.producer_function import (
    HANDLER,
    MAX_RECEIVE_COUNT,
    ProducerFunction,
)
from tests.client_access_stack import (
    BROKERS,
    CLUSTER_ARN,
    CLUSTER_SG,
    ENDPOINTS_SG,
    SKIP_BUNDLING,
    SUBNETS,
    SynthesizedStack,
    actions_of,
    build_access,
    build_log_groups,
    cfn_lint_findings,
    get_att,
    nag_findings,
    ref,
    security_group_egress,
)
from tests.stack_fixtures import asset_s3_key

SETTINGS = ProducerFunctionSettings(
    reserved_concurrency=3,
    timeout_seconds=30,
    memory_mb=256,
    sqs_batch_size=50,
    sqs_max_batching_window_seconds=2,
    record_key_mode="order_req_id",
    default_source="django_s3_app",
    producer_overrides=MappingProxyType({"linger_ms": "20", "compression_type": "gzip"}),
)


@dataclass(frozen=True)
class Built(SynthesizedStack):
    producer: ProducerFunction
    secret: secretsmanager.ISecret
    alarm_topic: sns.ITopic | None
    django_role: iam.Role | None


def build(*, monitored: bool) -> Built:
    """A small stack around one ProducerFunction; `monitored` adds alarm topic, dashboard and
    a client role using the grants."""
    app = cdk.App(context=SKIP_BUNDLING)
    stack = cdk.Stack(
        app, "ProducerTest", env=cdk.Environment(account="111111111111", region="eu-west-1")
    )
    access = build_access(stack)
    alarm_topic = dashboard = django_role = None
    if monitored:
        alarm_key = kms.Key(stack, "AlarmKey", enable_key_rotation=True)
        alarm_topic = sns.Topic(stack, "AlarmTopic", master_key=alarm_key, enforce_ssl=True)
        dashboard = cloudwatch.Dashboard(stack, "Dashboard")
    producer = ProducerFunction(
        stack,
        "Producer",
        access=access,
        topic_name="DocumentExceptions",
        settings=SETTINGS,
        log_groups=build_log_groups(stack, logs.RetentionDays.ONE_MONTH, cdk.RemovalPolicy.RETAIN),
        removal_policy=cdk.RemovalPolicy.RETAIN,
        alarm_topic=alarm_topic,
        dashboard=dashboard,
    )
    if monitored:
        django_role = iam.Role(
            stack, "DjangoRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
        )
        producer.grant_invoke(django_role)
        producer.grant_send_messages(django_role)
        producer.grant_put_events(django_role)
        NagSuppressions.add_resource_suppressions(
            django_role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Test client role: grant_invoke covers the function's versions and "
                        "aliases (<fn>.Arn:*); the queue grant adds the kms:*DataKey* variants"
                    ),
                    applies_to=[
                        "Action::kms:GenerateDataKey*",
                        "Action::kms:ReEncrypt*",
                        RegexAppliesTo(
                            regex=r"/^Resource::<ProducerFunction[0-9A-F]{8}\.Arn>:\*$/"
                        ),
                    ],
                )
            ],
            apply_to_children=True,
        )
        cdk.Aspects.of(stack).add(AwsSolutionsChecks())
    template = Template.from_stack(stack)
    return Built(
        stack=stack,
        producer=producer,
        secret=access.secret,
        alarm_topic=alarm_topic,
        django_role=django_role,
        template=template,
        resources=template.to_json()["Resources"],
    )


@pytest.fixture(scope="module")
def built() -> Built:
    return build(monitored=True)


def refused(settings: ProducerFunctionSettings) -> None:
    """Construct a ProducerFunction that must refuse `settings` (raises)."""
    stack = cdk.Stack(cdk.App(context=SKIP_BUNDLING), "Refused")
    ProducerFunction(
        stack,
        "Producer",
        access=build_access(stack),
        topic_name="DocumentExceptions",
        settings=settings,
        log_groups=build_log_groups(stack),
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )


def function_properties(built: Built) -> dict[str, Any]:
    return built.resource(built.producer.function)["Properties"]


def policy_statements(built: Built, role: iam.IRole) -> list[dict[str, Any]]:
    role_id = built.stack.resolve(role.node.default_child.logical_id)
    return [
        statement
        for policy in built.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def statements_for(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [statement for statement in statements if action in actions_of(statement)]


# --- the function ---------------------------------------------------------------------------


def test_function_runs_handler_handler_on_python_3_14_x86_64(built: Built) -> None:
    properties = function_properties(built)
    assert properties["Handler"] == HANDLER == "handler.handler"
    assert properties["Runtime"] == "python3.14"
    assert properties["Architectures"] == ["x86_64"]


def test_function_runs_the_producer_asset(built: Built) -> None:
    assert function_properties(built)["Code"]["S3Key"] == asset_s3_key(PRODUCER_ASSET)


def test_timeout_memory_and_reserved_concurrency_come_from_settings(built: Built) -> None:
    properties = function_properties(built)
    assert properties["Timeout"] == SETTINGS.timeout_seconds
    assert properties["MemorySize"] == SETTINGS.memory_mb
    assert properties["ReservedConcurrentExecutions"] == SETTINGS.reserved_concurrency


def test_function_runs_in_the_access_subnets_with_its_own_security_group(built: Built) -> None:
    vpc_config = function_properties(built)["VpcConfig"]
    assert vpc_config["SubnetIds"] == [subnet for subnet, _, _ in SUBNETS]
    assert vpc_config["SecurityGroupIds"] == [
        get_att(built, built.producer.security_group, "GroupId")
    ]


def test_security_group_egress_is_only_brokers_on_9096_and_endpoints_on_443(built: Built) -> None:
    rules = security_group_egress(built, built.producer.security_group)
    destinations = {
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["DestinationSecurityGroupId"])
        for rule in rules
    }
    assert destinations == {("tcp", 9096, 9096, CLUSTER_SG), ("tcp", 443, 443, ENDPOINTS_SG)}
    assert not [rule for rule in rules if "CidrIp" in rule]


def test_cluster_security_group_admits_the_function_on_9096(built: Built) -> None:
    ingress = built.resource(built.producer.cluster_ingress)["Properties"]
    assert {key: value for key, value in ingress.items() if key != "Description"} == {
        "GroupId": CLUSTER_SG,
        "IpProtocol": "tcp",
        "FromPort": 9096,
        "ToPort": 9096,
        "SourceSecurityGroupId": get_att(built, built.producer.security_group, "GroupId"),
    }


def test_environment_says_where_to_connect_and_how_to_behave(built: Built) -> None:
    variables = function_properties(built)["Environment"]["Variables"]
    assert variables == {
        "KAFKA_SECRET_ARN": ref(built, built.secret),
        "KAFKA_BOOTSTRAP_BROKERS": BROKERS,
        "KAFKA_CLUSTER_ARN": CLUSTER_ARN,
        "KAFKA_TOPIC": "DocumentExceptions",
        "MESSAGE_KEY_BY": "order_req_id",
        "MESSAGE_DEFAULT_SOURCE": "django_s3_app",
        "REJECTED_QUEUE_URL": ref(built, built.producer.rejected_queue),
        "POWERTOOLS_SERVICE_NAME": "document-exceptions-producer",
        "POWERTOOLS_METRICS_NAMESPACE": "DocumentExceptions",
        "LOG_LEVEL": "INFO",
        "PRODUCER_COMPRESSION_TYPE": "gzip",
        "PRODUCER_LINGER_MS": "20",
    }


def test_runtime_reads_the_settings_from_the_environment_the_construct_sets(built: Built) -> None:
    variables = function_properties(built)["Environment"]["Variables"]
    text_only = {key: value for key, value in variables.items() if isinstance(value, str)}
    message = ContractSettings.from_environment(text_only)
    assert (message.topic, message.key_by, message.default_source) == (
        "DocumentExceptions",
        SETTINGS.record_key_mode,
        SETTINGS.default_source,
    )
    producer = ProducerSettings.from_environment(text_only)
    assert (producer.linger_ms, producer.compression_type) == (20, "gzip")
    assert names.REJECTED_QUEUE_URL_VARIABLE in variables
    resolver_variables = (SECRET_ARN_VARIABLE, BOOTSTRAP_BROKERS_VARIABLE, CLUSTER_ARN_VARIABLE)
    assert set(resolver_variables) <= set(variables)


def test_environment_holds_no_password(built: Built) -> None:
    variables = function_properties(built)["Environment"]["Variables"]
    text = json.dumps(variables).lower()
    assert "password" not in text
    assert "secretstring" not in text
    assert "resolve:secretsmanager" not in text


@pytest.mark.parametrize("key", ["sasl_plain_password", "security_protocol", "ssl_cafile"])
def test_producer_override_of_a_security_setting_is_refused(key: str) -> None:
    settings = ProducerFunctionSettings(producer_overrides=MappingProxyType({key: "x"}))
    with pytest.raises(ValueError, match=rf"producer\.producer_overrides\.{key}: security"):
        refused(settings)


def test_producer_override_of_an_unknown_setting_is_refused() -> None:
    settings = ProducerFunctionSettings(producer_overrides=MappingProxyType({"lingr_ms": "5"}))
    with pytest.raises(ValueError, match=r"producer_overrides\.lingr_ms: not a producer setting"):
        refused(settings)


def test_batch_size_above_10_without_a_batching_window_is_refused() -> None:
    settings = ProducerFunctionSettings(sqs_batch_size=100, sqs_max_batching_window_seconds=0)
    with pytest.raises(ValueError, match=r"producer\.sqs_max_batching_window_seconds"):
        refused(settings)


def test_function_logs_to_its_own_log_group_with_retention(built: Built) -> None:
    log_group = built.resource(built.producer.log_group)
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert log_group["DeletionPolicy"] == "Retain"
    assert function_properties(built)["LoggingConfig"]["LogGroup"] == ref(
        built, built.producer.log_group
    )


def test_function_depends_on_the_cluster_access_and_its_ingress_rule(built: Built) -> None:
    depends_on = built.resource(built.producer.function).get("DependsOn", [])
    assert "ScramAssociation" in depends_on
    assert built.logical_id(built.producer.cluster_ingress) in depends_on


# --- IAM ------------------------------------------------------------------------------------


def test_role_reads_only_the_scram_secret(built: Built) -> None:
    statements = policy_statements(built, built.producer.function.role)
    (read,) = statements_for(statements, "secretsmanager:GetSecretValue")
    assert read["Resource"] == {"Ref": built.logical_id(built.secret)}


def test_role_may_decrypt_the_secret_key_only_through_secrets_manager(built: Built) -> None:
    key = built.resource(built.secret.encryption_key)
    role_arn = get_att(built, built.producer.function.role)
    grants = [
        statement
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"AWS": role_arn}
    ]
    assert [actions_of(grant) for grant in grants] == [{"kms:Decrypt"}]
    assert grants[0]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }


def test_role_looks_up_brokers_of_this_cluster_only(built: Built) -> None:
    statements = policy_statements(built, built.producer.function.role)
    (lookup,) = statements_for(statements, "kafka:GetBootstrapBrokers")
    assert lookup["Resource"] == CLUSTER_ARN


def test_role_policy_has_no_wildcard_resources_but_the_eni_actions(built: Built) -> None:
    # The only "*" is for the ENI actions Lambda performs for a VPC function (no
    # resource-level permissions); everything else names its resource.
    statements = policy_statements(built, built.producer.function.role)
    wildcards = [s for s in statements if "*" in json.dumps(s["Resource"])]
    assert [s.get("Sid") for s in wildcards] == ["VpcNetworkInterfaces"]
    assert all(action.startswith("ec2:") for action in wildcards[0]["Action"])


def test_role_has_no_managed_policy_and_writes_only_its_own_log_group(built: Built) -> None:
    role = built.resource(built.producer.function.role)
    assert "ManagedPolicyArns" not in role["Properties"]
    statements = policy_statements(built, built.producer.function.role)
    (logs_statement,) = [s for s in statements if "logs:PutLogEvents" in s["Action"]]
    assert logs_statement["Resource"] == get_att(built, built.producer.log_group)


def test_role_consumes_the_queue_and_sends_to_rejected_and_failed_queues(built: Built) -> None:
    producer = built.producer
    statements = policy_statements(built, producer.function.role)
    (receive,) = statements_for(statements, "sqs:ReceiveMessage")
    assert receive["Resource"] == get_att(built, producer.queue)
    sends = statements_for(statements, "sqs:SendMessage")
    assert sorted(json.dumps(send["Resource"]) for send in sends) == sorted(
        json.dumps(get_att(built, queue))
        for queue in (producer.rejected_queue, producer.failed_invocations_queue)
    )


# --- queues ---------------------------------------------------------------------------------


def test_queue_visibility_timeout_is_at_least_six_times_the_function_timeout(built: Built) -> None:
    queue = built.resource(built.producer.queue)["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * SETTINGS.timeout_seconds
    assert queue["VisibilityTimeout"] == 6 * 30 + 2


def test_queue_moves_messages_to_the_dead_letter_queue_after_5_receives(built: Built) -> None:
    redrive = built.resource(built.producer.queue)["Properties"]["RedrivePolicy"]
    assert redrive == {
        "deadLetterTargetArn": get_att(built, built.producer.dead_letter_queue),
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    }
    assert MAX_RECEIVE_COUNT == 5


def all_queues(producer: ProducerFunction) -> list[Any]:
    return [
        producer.queue,
        producer.dead_letter_queue,
        producer.rejected_queue,
        producer.failed_invocations_queue,
    ]


def test_every_queue_is_encrypted_with_the_rotating_customer_managed_key(built: Built) -> None:
    key_arn = get_att(built, built.producer.queue_key)
    for queue in all_queues(built.producer):
        assert built.resource(queue)["Properties"]["KmsMasterKeyId"] == key_arn
    assert built.resource(built.producer.queue_key)["Properties"]["EnableKeyRotation"] is True


def test_every_queue_refuses_requests_without_tls(built: Built) -> None:
    policies = built.of_type("AWS::SQS::QueuePolicy").values()
    for queue in all_queues(built.producer):
        denies = [
            statement
            for policy in policies
            if ref(built, queue) in policy["Properties"]["Queues"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if statement["Effect"] == "Deny"
        ]
        assert [deny["Condition"] for deny in denies] == [
            {"Bool": {"aws:SecureTransport": "false"}}
        ]


def test_queues_and_key_are_kept_with_the_removal_policy(built: Built) -> None:
    for construct in [*all_queues(built.producer), built.producer.queue_key]:
        assert built.resource(construct)["DeletionPolicy"] == "Retain"


def test_sqs_event_source_reports_batch_item_failures_with_settings(built: Built) -> None:
    (mapping,) = built.of_type("AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"] == {
        "EventSourceArn": get_att(built, built.producer.queue),
        "FunctionName": ref(built, built.producer.function),
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BatchSize": 50,
        "MaximumBatchingWindowInSeconds": 2,
        "ScalingConfig": {"MaximumConcurrency": SETTINGS.reserved_concurrency},
    }


# --- EventBridge and asynchronous invocations -----------------------------------------------


def test_rule_on_the_custom_bus_sends_the_detail_type_to_the_function(built: Built) -> None:
    rule = built.resource(built.producer.rule)["Properties"]
    assert rule["EventBusName"] == ref(built, built.producer.event_bus)
    assert rule["EventPattern"] == {"detail-type": [names.EVENTBRIDGE_DETAIL_TYPE]}
    assert names.EVENTBRIDGE_DETAIL_TYPE == "DocumentAccessException"
    (target,) = rule["Targets"]
    assert target["Arn"] == get_att(built, built.producer.function)
    assert target["DeadLetterConfig"] == {
        "Arn": get_att(built, built.producer.failed_invocations_queue)
    }
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2}


def test_eventbridge_may_use_the_queue_key_only_for_this_rule(built: Built) -> None:
    policy = built.resource(built.producer.queue_key)["Properties"]["KeyPolicy"]["Statement"]
    (events_grant,) = [
        statement
        for statement in policy
        if statement["Principal"] == {"Service": "events.amazonaws.com"}
    ]
    assert actions_of(events_grant) == {"kms:Decrypt", "kms:GenerateDataKey"}
    source_arn = built.stack.resolve(events_grant["Condition"]["ArnEquals"]["aws:SourceArn"])
    rule_arn = built.stack.resolve(built.producer.rule.rule_arn)
    assert ref(built, built.producer.event_bus) in source_arn["Fn::Join"][1]
    assert source_arn["Fn::Join"][1][-1].endswith("/document-access-exceptions")
    assert rule_arn == get_att(built, built.producer.rule)


def test_async_invocations_retry_twice_then_go_to_the_failed_invocations_queue(
    built: Built,
) -> None:
    (config,) = built.of_type("AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["MaximumRetryAttempts"] == 2
    assert config["Properties"]["MaximumEventAgeInSeconds"] == 3600
    assert config["Properties"]["DestinationConfig"] == {
        "OnFailure": {"Destination": get_att(built, built.producer.failed_invocations_queue)}
    }


# --- alarms, dashboard, outputs, grants -----------------------------------------------------


def test_alarms_on_errors_throttles_and_parked_queues_notify_the_alarm_topic(built: Built) -> None:
    alarms = built.of_type("AWS::CloudWatch::Alarm").values()
    watched = {}
    for alarm in alarms:
        properties = alarm["Properties"]
        assert properties["Threshold"] == 1
        assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert properties["AlarmActions"] == [{"Ref": built.logical_id(built.alarm_topic)}]
        dimension = properties["Dimensions"][0]["Value"]
        watched[properties["MetricName"], json.dumps(dimension)] = properties
    producer = built.producer
    function = json.dumps(ref(built, producer.function))
    expected = {
        ("Errors", function),
        ("Throttles", function),
        *(
            ("ApproximateNumberOfMessagesVisible", json.dumps(get_att(built, queue, "QueueName")))
            for queue in (
                producer.dead_letter_queue,
                producer.rejected_queue,
                producer.failed_invocations_queue,
            )
        ),
    }
    assert set(watched) == expected


def test_alarms_have_no_actions_without_an_alarm_topic() -> None:
    alarms = build(monitored=False).of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) == 5
    assert not [alarm for alarm in alarms.values() if "AlarmActions" in alarm["Properties"]]


def test_dashboard_gets_the_producer_widgets(built: Built) -> None:
    (dashboard,) = built.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in ("Producer invocations", "Producer duration", "Producer queues"):
        assert title in body


def test_client_policy_is_unattached_and_scoped_to_this_producer(built: Built) -> None:
    producer = built.producer
    policy = built.resource(producer.client_policy)["Properties"]
    assert not {"Roles", "Users", "Groups"} & set(policy)
    resources = {
        statement["Sid"]: statement["Resource"]
        for statement in policy["PolicyDocument"]["Statement"]
    }
    assert resources == {
        "InvokeProducer": get_att(built, producer.function),
        "SendToQueue": get_att(built, producer.queue),
        "EncryptForQueue": get_att(built, producer.queue_key),
        "PutEvents": get_att(built, producer.event_bus),
    }


def test_outputs_name_the_function_queue_bus_and_client_policy(built: Built) -> None:
    outputs = built.template.to_json()["Outputs"]
    values = {key: json.dumps(output["Value"]) for key, output in outputs.items()}
    producer = built.producer

    def output(name: str) -> str:
        return values[f"Producer{name}"]  # fixed names, no hash suffix

    assert output("FunctionArn") == json.dumps(get_att(built, producer.function))
    assert output("FunctionName") == json.dumps(ref(built, producer.function))
    assert output("QueueUrl") == json.dumps(ref(built, producer.queue))
    assert output("EventBusName") == json.dumps(ref(built, producer.event_bus))
    assert output("ClientPolicyArn") == json.dumps(ref(built, producer.client_policy))
    assert sorted(key for key in outputs if key.startswith("Producer")) == [
        "ProducerClientPolicyArn",
        "ProducerDeadLetterQueueUrl",
        "ProducerEventBusName",
        "ProducerFunctionArn",
        "ProducerFunctionName",
        "ProducerQueueUrl",
        "ProducerRejectedQueueUrl",
    ]


def test_grants_let_another_role_invoke_send_and_put_events(built: Built) -> None:
    producer = built.producer
    statements = policy_statements(built, built.django_role)
    (invoke,) = statements_for(statements, "lambda:InvokeFunction")
    assert get_att(built, producer.function) in invoke["Resource"]
    (send,) = statements_for(statements, "sqs:SendMessage")
    assert send["Resource"] == get_att(built, producer.queue)
    (put,) = statements_for(statements, "events:PutEvents")
    assert put["Resource"] == get_att(built, producer.event_bus)


# --- checks ---------------------------------------------------------------------------------


def test_cdk_nag_aws_solutions_has_no_unsuppressed_findings(built: Built) -> None:
    assert nag_findings(built.stack) == []


def test_cfn_lint_finds_nothing(built: Built) -> None:
    assert cfn_lint_findings(built.template) == []
