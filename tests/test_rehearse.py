"""The deployment rehearsal (tools/rehearse): its IAM evaluator on known allow and deny
cases, its checks on small templates, and the rehearsal of every environment (what
`make rehearse` prints), which must have no gap."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack_fixtures import scram_only_environments
from tools.rehearse import iam
from tools.rehearse.__main__ import broker_info, rehearsal_broker
from tools.rehearse.bundle import check_imports
from tools.rehearse.checks import (
    Call,
    check_environment,
    check_iam,
    check_network,
    check_time,
    worst_case_seconds,
)
from tools.rehearse.kafka_requests import ACTIONS_OF_REQUEST, describe, needed_actions
from tools.rehearse.rehearsal import (
    NATIVE_VARIANT,
    Assembly,
    Row,
    kafka_iam_calls,
    recorded_calls,
    rehearse,
    render,
    synthesize,
)
from tools.rehearse.template import Resolver

ROLE = "arn:aws:iam::111111111111:role/Fn"
QUEUE = "arn:aws:sqs:eu-west-1:111111111111:Queue"


def request(action: str, resource: str = QUEUE, **context: str) -> iam.Request:
    return iam.Request(ROLE, action, resource, context)


# --- the IAM evaluator on known cases ---------------------------------------------------------


def test_allow_with_action_and_resource_wildcards() -> None:
    policy = [
        {"Effect": "Allow", "Action": "sqs:Send*", "Resource": "arn:aws:sqs:*:111111111111:*"}
    ]
    assert iam.decide(request("sqs:SendMessage"), policy).allowed
    assert iam.decide(request("SQS:sendmessage"), policy).allowed  # actions ignore case
    assert not iam.decide(request("sqs:ReceiveMessage"), policy).allowed
    assert not iam.decide(request("sqs:SendMessage", QUEUE.replace("1111", "2222")), policy).allowed


def test_explicit_deny_wins_and_not_action_not_resource_apply() -> None:
    policy = [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "NotAction": "sqs:SendMessage", "Resource": "*"},
        {"Effect": "Deny", "Action": "sqs:*", "NotResource": QUEUE},
    ]
    assert iam.decide(request("sqs:SendMessage"), policy).allowed
    assert not iam.decide(request("sqs:DeleteQueue"), policy).allowed
    other = "arn:aws:sqs:eu-west-1:111111111111:Other"
    assert iam.decide(request("sqs:SendMessage", other), policy).reason == "explicitly denied"


def test_conditions_are_evaluated_or_listed_never_passed_silently() -> None:
    policy = [
        {
            "Sid": "Detail",
            "Effect": "Allow",
            "Action": "events:PutEvents",
            "Resource": "*",
            "Condition": {"StringEquals": {"events:detail-type": "DocumentAccessException"}},
        }
    ]
    good = request("events:PutEvents", "*", **{"events:detail-type": "DocumentAccessException"})
    bad = request("events:PutEvents", "*", **{"events:detail-type": "Other"})
    assert iam.decide(good, policy).allowed
    assert not iam.decide(bad, policy).allowed
    unknown = iam.decide(request("events:PutEvents", "*"), policy)
    assert not unknown.allowed
    assert unknown.unevaluated == ("Detail: StringEquals events:detail-type (not in the request)",)
    numeric = [{**policy[0], "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}]
    assert "NumericLessThan aws:MultiFactorAuthAge" in iam.decide(good, numeric).unevaluated[0]


def test_kms_key_policy_must_name_the_role_or_delegate_to_iam() -> None:
    key = "arn:aws:kms:eu-west-1:111111111111:key/k"
    via = {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    root = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    direct = {
        "Effect": "Allow",
        "Principal": {"AWS": ROLE},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": via},
    }
    allow_decrypt = [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key}]
    decrypt = request("kms:Decrypt", key, **via)
    assert iam.decide(decrypt, [], key_policy=[direct]).allowed
    assert not iam.decide(request("kms:Decrypt", key), [], key_policy=[direct]).allowed
    assert not iam.decide(decrypt, [], key_policy=[root]).allowed  # delegated, IAM silent
    assert iam.decide(decrypt, allow_decrypt, key_policy=[root]).allowed
    assert not iam.decide(decrypt, allow_decrypt, key_policy=[]).allowed  # IAM alone is not enough


def test_resource_policy_allows_or_denies_for_its_principals() -> None:
    secure_only = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "sqs:*",
        "Resource": QUEUE,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    grant = {
        "Effect": "Allow",
        "Principal": {"AWS": ROLE},
        "Action": "sqs:SendMessage",
        "Resource": QUEUE,
    }
    assert iam.decide(
        request("sqs:SendMessage", **{"aws:SecureTransport": "true"}),
        [],
        resource_policy=[secure_only, grant],
    ).allowed
    assert not iam.decide(
        request("sqs:SendMessage", **{"aws:SecureTransport": "false"}),
        [],
        resource_policy=[secure_only, grant],
    ).allowed


# --- the checks on small templates ------------------------------------------------------------


def _template(**resources: Any) -> Resolver:
    return Resolver({"Resources": resources}, "eu-west-1", "111111111111", "Stack")


def _sg(*egress: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "AWS::EC2::SecurityGroup", "Properties": {"SecurityGroupEgress": list(egress)}}


def _ingress(group: str, source: str, port: int) -> dict[str, Any]:
    return {
        "Type": "AWS::EC2::SecurityGroupIngress",
        "Properties": {
            "GroupId": {"Fn::GetAtt": [group, "GroupId"]},
            "SourceSecurityGroupId": {"Fn::GetAtt": [source, "GroupId"]},
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
        },
    }


def _network_template(endpoint_service: str, *, private_dns: bool = True) -> Resolver:
    return _template(
        FnSg=_sg(
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "DestinationSecurityGroupId": {"Fn::GetAtt": ["EpSg", "GroupId"]},
            }
        ),
        EpSg=_sg(),
        EpIngress=_ingress("EpSg", "FnSg", 443),
        Endpoint={
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcEndpointType": "Interface",
                "ServiceName": endpoint_service,
                "PrivateDnsEnabled": private_dns,
                "SecurityGroupIds": [{"Fn::GetAtt": ["EpSg", "GroupId"]}],
            },
        },
    )


FUNCTION_IN_VPC = {
    "VpcConfig": {
        "SecurityGroupIds": [{"Fn::GetAtt": ["FnSg", "GroupId"]}],
        "SubnetIds": ["subnet-1"],
    }
}


def _sqs_call(host: str = "sqs.eu-west-1.amazonaws.com") -> Call:
    return Call("sqs", "SendMessageBatch", QUEUE, endpoint_prefix="sqs", host=host)


def test_network_needs_an_endpoint_for_exactly_the_called_service() -> None:
    reachable = check_network(
        _network_template("com.amazonaws.eu-west-1.sqs"),
        FUNCTION_IN_VPC,
        [_sqs_call()],
        kafka=False,
    )
    assert reachable.gaps == []
    other = check_network(
        _network_template("com.amazonaws.eu-west-1.secretsmanager"),
        FUNCTION_IN_VPC,
        [_sqs_call()],
        kafka=False,
    )
    assert other.gaps == [
        "network: sqs unreachable: no interface endpoint for "
        "com.amazonaws.eu-west-1.sqs and no NAT route"
    ]


def test_network_without_private_dns_needs_the_endpoints_own_name() -> None:
    resolver = _network_template("com.amazonaws.eu-west-1.sqs", private_dns=False)
    public = check_network(resolver, FUNCTION_IN_VPC, [_sqs_call()], kafka=False)
    assert "no interface endpoint" in public.gaps[0]
    own_name = resolver.attribute("Endpoint", "DnsEntries")[0].split(":", 1)[1]
    assert check_network(resolver, FUNCTION_IN_VPC, [_sqs_call(own_name)], kafka=False).gaps == []


def test_network_needs_the_endpoint_group_to_admit_the_function() -> None:
    resolver = _network_template("com.amazonaws.eu-west-1.sqs")
    del resolver.template["Resources"]["EpIngress"]
    assert (
        "does not admit 443"
        in check_network(resolver, FUNCTION_IN_VPC, [_sqs_call()], kafka=False).gaps[0]
    )


def test_iam_check_resolves_references_and_the_queue_key() -> None:
    resolver = _template(
        Role={"Type": "AWS::IAM::Role", "Properties": {}},
        Key={
            "Type": "AWS::KMS::Key",
            "Properties": {
                "KeyPolicy": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                            "Action": "kms:*",
                            "Resource": "*",
                        }
                    ]
                }
            },
        },
        Queue={
            "Type": "AWS::SQS::Queue",
            "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": ["Key", "Arn"]}},
        },
        Policy={
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "Roles": [{"Ref": "Role"}],
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sqs:SendMessage",
                            "Resource": {"Fn::GetAtt": ["Queue", "Arn"]},
                        },
                        {
                            "Effect": "Allow",
                            "Action": "kms:GenerateDataKey*",
                            "Resource": {"Fn::GetAtt": ["Key", "Arn"]},
                        },
                    ]
                },
            },
        },
    )
    call = Call("sqs", "SendMessageBatch", resolver.attribute("Queue", "Arn"), "Queue")
    outcome = check_iam(resolver, "Role", [call])
    assert outcome.gaps == [
        "IAM: kms:Decrypt on key Key (for sqs:SendMessage) denied "
        "(key policy delegates to IAM, role policy does not allow)"
    ]


def test_time_check_uses_the_clients_timeouts_and_retries() -> None:
    unbounded = {
        "connect_timeout": 60,
        "read_timeout": 60,
        "retry_mode": "standard",
        "total_max_attempts": None,
    }
    assert worst_case_seconds(unbounded)[0] == 3 * 120 + 1 + 2
    bounded = {
        "connect_timeout": 2,
        "read_timeout": 3,
        "retry_mode": "standard",
        "total_max_attempts": 2,
    }
    call = Call("sqs", "SendMessageBatch", QUEUE, timing=bounded)
    assert check_time([("batch", [call])], 60, "function timeout").gaps == []
    slow = Call("sqs", "SendMessageBatch", QUEUE, timing=unbounded)
    assert (
        check_time([("batch", [slow])], 60, "function timeout")
        .gaps[0]
        .startswith("time: sqs SendMessageBatch may take 363 s")
    )


def test_iam_check_covers_what_the_lambda_service_writes_to_logs() -> None:
    resolver = _template(
        Role={"Type": "AWS::IAM::Role", "Properties": {}},
        Mine={"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/Stack/Mine"}},
        Other={"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/Stack/Other"}},
        Policy={
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "Roles": [{"Ref": "Role"}],
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                            "Resource": {"Fn::GetAtt": ["Mine", "Arn"]},
                        }
                    ]
                },
            },
        },
    )

    def write(group: str) -> Call:
        stream = resolver.arn("logs", f"log-group:{group}:log-stream:s")
        return Call("logs", "PutLogEvents", stream, origin="platform")

    assert check_iam(resolver, "Role", [write("/Stack/Mine")]).gaps == []
    assert check_iam(resolver, "Role", [write("/Stack/Other")]).gaps == [
        "IAM: logs:PutLogEvents on arn:aws:logs:eu-west-1:111111111111:log-group:/Stack/Other:"
        "log-stream:s denied (no statement allows)"
    ]


def test_environment_check_names_missing_required_variables_and_secrets() -> None:
    resolver = _template(Secret={"Type": "AWS::SecretsManager::Secret", "Properties": {}})
    function = {
        "Environment": {
            "Variables": {
                "KAFKA_SECRET_ARN": {"Ref": "Secret"},
                "KAFKA_SASL_PASSWORD": "hunter2",
                "TOPIC": "DocumentExceptions",
            }
        }
    }
    reads = {"KAFKA_SECRET_ARN": "optional", "TOPIC": "required", "QUEUE_URL": "required"}
    outcome = check_environment(resolver, function, reads, (), ["s3cr3t"])
    assert outcome.gaps == [
        "environment: KAFKA_SASL_PASSWORD holds a secret",
        "environment: QUEUE_URL is read as required but not set on the function",
    ]
    function["Environment"]["Variables"]["TOPIC"] = "s3cr3t-in-a-value"
    assert (
        "environment: TOPIC holds a secret"
        in check_environment(resolver, function, {}, (), ["s3cr3t"]).gaps
    )


def test_bundle_check_reports_imports_from_outside_the_asset(tmp_path: Path) -> None:
    asset = tmp_path / "asset"
    asset.mkdir()
    (asset / "handler.py").write_text(
        "import json\n\ndef handler(event, context):\n    return event\n"
    )
    assert check_imports(asset, "handler.handler") == {
        "error": None,
        "substituted": [],
        "outside": [],
    }
    (asset / "handler.py").write_text("import hypothesis\n\ndef handler(event, context): ...\n")
    assert check_imports(asset, "handler.handler")["error"] == (
        "ModuleNotFoundError: No module named 'hypothesis'"
    )


# --- every environment, as `make rehearse` runs it --------------------------------------------


@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    """Synthesized once, with the Lambda assets bundled (the rehearsal runs the built assets)."""
    return synthesize(tmp_path_factory.mktemp("rehearse") / "cdk.out")


@pytest.fixture(scope="module")
def broker() -> Iterator[Any]:
    """The broker `make rehearse` uses (it answers the ACL APIs)."""
    with rehearsal_broker() as kafka:
        yield kafka


@pytest.fixture(scope="module")
def rows(
    assembly: Assembly, broker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Row]]:
    return rehearse(assembly, broker_info(broker), tmp_path_factory.mktemp("work"))


def test_every_function_of_every_environment_is_rehearsed(rows: list[Row]) -> None:
    expected = {
        "producer",
        "topic on-event",
        "topic provider framework",
        "broker lookup (AwsCustomResource)",
        "ACL enforcement on-event",
        "ACL enforcement is-complete",
        "ACL enforcement provider framework",
        "ACL enforcement provider framework (isComplete)",
        "ACL enforcement provider framework (onTimeout)",
    }
    for environment in ("dev", "staging", "prod", NATIVE_VARIANT):
        assert {row.function for row in rows if row.environment == environment} == expected


def test_the_acl_resource_is_rehearsed_beside_a_native_topic(rows: list[Row]) -> None:
    """dev on Kafka 3.x with MSK's native topic: the on-event function serves the ACL resource
    alone; its ACL requests need DescribeCluster and AlterCluster and never a topic action."""
    native = next(
        row
        for row in rows
        if row.function == "topic on-event" and row.environment == NATIVE_VARIANT
    )
    actions = {call.split()[1] for call in native.calls if call.startswith("kafka-cluster ")}
    assert actions - {"IAM"} == {"Connect", "DescribeCluster", "AlterCluster"}
    assert native.gaps == []


def test_the_producer_calls_what_its_code_does(rows: list[Row]) -> None:
    """With IAM (the default) the producer reads no secret (its run as SASL/SCRAM on the local
    broker is rehearsal-only) and its Kafka requests need exactly these MSK IAM actions."""
    producer = next(row for row in rows if row.function == "producer")
    assert any(
        call.startswith("sqs SendMessageBatch ProducerRejectedQueue") for call in producer.calls
    )
    assert not any(call.startswith("secretsmanager") for call in producer.calls)
    assert "kafka-cluster IAM connect brokers" in producer.calls
    kafka_actions = {
        call.split()[1] for call in producer.calls if call.startswith("kafka-cluster ")
    } - {"IAM"}
    assert kafka_actions == {"Connect", "WriteDataIdempotently", "WriteData", "DescribeTopic"}
    assert "kafka: 9098 to the cluster SG" in producer.cells["network"].summary()


def test_the_topic_resource_needs_delete_only_where_it_deletes(rows: list[Row]) -> None:
    """dev's topic has DeletionPolicy Delete: its Delete event deletes the topic (and its role
    may); the other environments retain theirs."""
    dev = next(row for row in rows if row.function == "topic on-event" and row.environment == "dev")
    assert any(call.startswith("kafka-cluster DeleteTopic") for call in dev.calls)
    assert any(call.startswith("kafka-cluster CreateTopic") for call in dev.calls)
    assert any(call.startswith("kafka-cluster DescribeCluster") for call in dev.calls)
    # The ACL resource's CreateAcls/DeleteAcls need AlterCluster; gone with the topic in dev.
    assert any(call.startswith("kafka-cluster AlterCluster") for call in dev.calls)
    for row in rows:
        if row.function == "topic on-event" and row.environment != "dev":
            assert not any(call.startswith("kafka-cluster DeleteTopic") for call in row.calls)


def test_scram_only_environment_rehearses_as_before(tmp_path: Path) -> None:
    """With "kafka_auth": "scram" the functions read the secret and use 9096, with no gap.

    Its own broker: the IAM rehearsal left ACLs on DocumentExceptions (staging and prod
    retain their topic), which, as on Kafka, close that topic to every other SCRAM user."""
    scram_dev = synthesize(tmp_path / "cdk.out", env="dev", environments=scram_only_environments())
    with rehearsal_broker() as broker:
        scram_rows = rehearse(scram_dev, broker_info(broker), tmp_path)
    assert [gap for row in scram_rows for gap in row.gaps] == [], render(scram_rows)
    producer = next(row for row in scram_rows if row.function == "producer")
    assert any(call.startswith("secretsmanager GetSecretValue") for call in producer.calls)
    assert "kafka-cluster SASL/SCRAM connect brokers" in producer.calls
    assert not any(call.startswith("kafka-cluster Connect") for call in producer.calls)
    assert "kafka: 9096 to the cluster SG" in producer.cells["network"].summary()


def test_an_iam_role_without_write_data_is_a_gap(assembly: Assembly) -> None:
    """The producer's recorded Kafka requests, checked against a dev template whose producer
    policy lost its topic statement: WriteData and DescribeTopic are denied."""
    dev = next(e for e in assembly.environments if e.name == "dev")
    template = copy.deepcopy(dict(dev.template))
    policy = next(
        v["Properties"]["PolicyDocument"]
        for k, v in template["Resources"].items()
        if k.startswith("ProducerFunctionRoleDefaultPolicy")
    )
    policy["Statement"] = [
        st for st in policy["Statement"] if "kafka-cluster:WriteData" not in st["Action"]
    ]
    resolver = Resolver(template, dev.region, dev.account, dev.stack_name)
    requests = [
        {"api": "InitProducerIdRequest", "topics": [], "groups": []},
        {"api": "ProduceRequest", "topics": ["DocumentExceptions"], "groups": []},
    ]
    calls, unknown = kafka_iam_calls(resolver, requests)
    assert unknown == []
    role = next(k for k in template["Resources"] if k.startswith("ProducerFunctionRole"))
    gaps = check_iam(resolver, role, calls).gaps
    assert [gap.split(" on ")[0] for gap in gaps] == [
        "IAM: kafka-cluster:WriteData",
        "IAM: kafka-cluster:DescribeTopic",
    ]
    assert all(
        "topic/document-exceptions-cluster-dev/rehearsal-uuid/DocumentExceptions" in g for g in gaps
    )


def test_the_acl_enforcement_handlers_run_and_their_calls_are_checked(rows: list[Row]) -> None:
    """on_event switched the cluster to the enforced configuration (Create) and back to the
    open one (Delete), reading its own stack; is_complete followed MSK's operation; both
    outside the VPC, within their timeouts."""
    for environment in ("dev", "staging", "prod"):
        on_event, is_complete = (
            next(r for r in rows if r.function == name and r.environment == environment)
            for name in ("ACL enforcement on-event", "ACL enforcement is-complete")
        )
        assert sorted(on_event.calls) == [
            f"cloudformation DescribeStacks stack/DocumentExceptions-{environment}/rehearsal-uuid",
            "kafka DescribeClusterV2 KafkaCluster21A1BE89",
            "kafka UpdateClusterConfiguration KafkaCluster21A1BE89",
            "kafka UpdateClusterConfiguration KafkaConfiguration2E1CE142",
            "kafka UpdateClusterConfiguration KafkaEnforcedConfiguration855AAC85",
        ]
        assert is_complete.calls == ["kafka DescribeClusterOperationV2 *"]
        for row in (on_event, is_complete):
            assert row.cells["network"].summary() == "outside a VPC: public endpoints"
            assert row.cells["time"].summary().endswith("<= function timeout 60 s")
            assert row.gaps == []


def test_an_enforcement_role_without_the_configurations_is_a_gap(assembly: Assembly) -> None:
    """kafka:UpdateClusterConfiguration acts on the cluster and on the configuration: a
    recorded call, checked against a dev template whose statement names the cluster alone."""
    dev = next(e for e in assembly.environments if e.name == "dev")
    template = copy.deepcopy(dict(dev.template))
    policy = template["Resources"]["AclEnforcementHandlerRoleDefaultPolicy5E5DFA99"]
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        if statement["Action"] == "kafka:UpdateClusterConfiguration":
            statement["Resource"] = statement["Resource"][:1]
    resolver = Resolver(template, dev.region, dev.account, dev.stack_name)
    recorded = {
        "kind": "aws",
        "iam_prefix": "kafka",
        "endpoint_prefix": "kafka",
        "operation": "UpdateClusterConfiguration",
        "resource": resolver.ref("KafkaCluster21A1BE89"),
        "extra_resources": [resolver.attribute("KafkaEnforcedConfiguration855AAC85", "Arn")],
        "host": None,
        "connect_timeout": 2,
        "read_timeout": 3,
        "retry_mode": "standard",
        "total_max_attempts": 2,
    }
    calls = recorded_calls(resolver, {}, recorded, "IAM")
    gaps = check_iam(resolver, "AclEnforcementHandlerRole1D99B604", calls).gaps
    assert [gap.split(" (")[0] for gap in gaps] == [
        "IAM: kafka:UpdateClusterConfiguration on KafkaEnforcedConfiguration855AAC85 denied"
    ]


def test_kafka_requests_are_read_from_kafka_pythons_request_schemas() -> None:
    """Guards the one place that reaches into kafka-python: request names and the topic and
    group names their schemas mark (entityType), including config resources."""
    from kafka.protocol.admin import (  # noqa: PLC0415
        CreateTopicsRequest,
        DescribeClusterRequest,
        DescribeConfigsRequest,
    )
    from kafka.protocol.consumer import JoinGroupRequest  # noqa: PLC0415
    from kafka.protocol.metadata import MetadataRequest  # noqa: PLC0415

    metadata = MetadataRequest(
        topics=[MetadataRequest.MetadataRequestTopic(name="T")], allow_auto_topic_creation=False
    )
    assert describe(metadata) == {"api": "MetadataRequest", "topics": ["T"], "groups": []}
    create = CreateTopicsRequest(
        topics=[
            CreateTopicsRequest.CreatableTopic(
                name="T", num_partitions=1, replication_factor=1, assignments=[], configs=[]
            )
        ],
        timeout_ms=1,
        validate_only=False,
    )
    assert describe(create)["topics"] == ["T"]
    configs = DescribeConfigsRequest(
        resources=[
            DescribeConfigsRequest.DescribeConfigsResource(
                resource_type=2, resource_name="T", configuration_keys=None
            )
        ],
        include_synonyms=False,
        include_documentation=False,
    )
    assert describe(configs)["topics"] == ["T"]
    join = JoinGroupRequest(
        group_id="G", session_timeout_ms=1, member_id="", protocol_type="consumer", protocols=[]
    )
    assert describe(join) == {"api": "JoinGroupRequest", "topics": [], "groups": ["G"]}
    cluster = DescribeClusterRequest(
        include_cluster_authorized_operations=True, include_fenced_brokers=True
    )
    assert describe(cluster)["api"] in ACTIONS_OF_REQUEST


def test_needed_actions_follow_the_msk_semantics() -> None:
    def arn_of(kind: str, name: str) -> str:
        return f"{kind}:{name}" if name else kind

    needed, unknown = needed_actions(
        [
            {"api": "ProduceRequest", "topics": ["T"]},
            {"api": "InitProducerIdRequest"},
            {"api": "CreatePartitionsRequest", "topics": ["T"]},
            {"api": "JoinGroupRequest", "groups": ["G"]},
            {"api": "WriteTxnMarkersRequest"},
        ],
        arn_of,
    )
    assert needed == [
        ("kafka-cluster:Connect", "cluster"),
        ("kafka-cluster:WriteData", "topic:T"),
        ("kafka-cluster:DescribeTopic", "topic:T"),
        ("kafka-cluster:WriteDataIdempotently", "cluster"),
        ("kafka-cluster:AlterTopic", "topic:T"),
        ("kafka-cluster:AlterGroup", "group:G"),
    ]
    assert unknown == ["WriteTxnMarkersRequest"]


def test_network_checks_the_port_of_the_functions_authentication() -> None:
    """An IAM function needs 9098 to the cluster's group; 9096 alone is a gap."""
    resolver = _template(
        FnSg=_sg(
            {
                "IpProtocol": "tcp",
                "FromPort": 9096,
                "ToPort": 9096,
                "DestinationSecurityGroupId": {"Fn::GetAtt": ["ClusterSg", "GroupId"]},
            }
        ),
        ClusterSg=_sg(),
        ClusterIngress=_ingress("ClusterSg", "FnSg", 9096),
        Cluster={
            "Type": "AWS::MSK::Cluster",
            "Properties": {
                "BrokerNodeGroupInfo": {
                    "SecurityGroups": [{"Fn::GetAtt": ["ClusterSg", "GroupId"]}]
                }
            },
        },
    )
    assert check_network(resolver, FUNCTION_IN_VPC, [], kafka=True, kafka_port=9096).gaps == []
    assert check_network(resolver, FUNCTION_IN_VPC, [], kafka=True, kafka_port=9098).gaps == [
        "network: Kafka 9098 to the cluster's security group not open"
    ]


def test_rehearsal_has_no_gap(rows: list[Row]) -> None:
    table = render(rows)
    print(table)
    assert [gap for row in rows for gap in row.gaps] == [], table


def test_without_the_sqs_endpoint_the_producer_cannot_reach_sqs(
    assembly: Assembly, rows: list[Row], tmp_path: Path
) -> None:
    """Reverting the SQS endpoint (its resource removed from the dev template) is a gap."""
    from tools.rehearse.rehearsal import label_functions  # noqa: PLC0415

    dev = next(e for e in assembly.environments if e.name == "dev")
    template = copy.deepcopy(dict(dev.template))
    endpoint = next(
        k
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::EC2::VPCEndpoint" and "sqs" in str(v["Properties"]["ServiceName"])
    )
    del template["Resources"][endpoint]
    resolver = Resolver(template, dev.region, dev.account, dev.stack_name)
    producer = next(k for k, label in label_functions(template).items() if label == "producer")
    recorded = [
        Call(
            "sqs",
            "SendMessageBatch",
            QUEUE,
            endpoint_prefix="sqs",
            host="sqs.eu-west-1.amazonaws.com",
        )
    ]
    gaps = check_network(
        resolver, template["Resources"][producer]["Properties"], recorded, kafka=False
    ).gaps
    assert gaps == [
        "network: sqs unreachable: no interface endpoint for "
        "com.amazonaws.eu-west-1.sqs and no NAT route"
    ]


def test_a_broker_that_speaks_iam_is_used_with_its_credentials_in_its_region() -> None:
    """With a harness that accepts AWS_MSK_IAM (`iam_client_env`), IAM functions sign in
    with its test credentials; in another region, or without it, they run as SASL/SCRAM."""
    from tools.rehearse.worker import _iam_credentials  # noqa: PLC0415

    class Broker:
        bootstrap, username, password, cafile = "127.0.0.1:9", "u", "p", "/ca.pem"

        def iam_client_env(self) -> dict[str, str]:
            return {
                "AWS_ACCESS_KEY_ID": "AKID",
                "AWS_SECRET_ACCESS_KEY": "SECRET",
                "AWS_DEFAULT_REGION": "eu-west-1",
            }

    info = broker_info(Broker())
    assert info["iam"] == {
        "access_key_id": "AKID",
        "secret_access_key": "SECRET",
        "region": "eu-west-1",
    }
    assert _iam_credentials(_template(), info) == {
        "AWS_ACCESS_KEY_ID": "AKID",
        "AWS_SECRET_ACCESS_KEY": "SECRET",
    }
    elsewhere = Resolver({"Resources": {}}, "us-east-1", "111111111111", "Stack")
    assert _iam_credentials(elsewhere, info) is None
    scram_only = {key: value for key, value in info.items() if key != "iam"}
    assert _iam_credentials(_template(), scram_only) is None
