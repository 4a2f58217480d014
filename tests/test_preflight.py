"""tools/preflight.py against moto (STS, EC2, SNS, CloudFormation, SSM) and botocore's Stubber
(MSK: moto lacks it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber

from stacks import msk_versions
from stacks.config import load_environment
from tools import preflight

REGION = "eu-west-1"
MOTO_ACCOUNT = "123456789012"
ROUTE_TABLE = "rtb-0a1b2c3d"
SNAPSHOTS = Path(__file__).parent / "snapshots"
OFFERED = [
    {"Version": "2.8.1", "Status": "DEPRECATED"},
    {"Version": "3.7.x", "Status": "ACTIVE"},
    {"Version": "3.8.x", "Status": "ACTIVE"},
]
ACTIVE_2_8_1 = [{"Version": "2.8.1", "Status": "ACTIVE"}]


@pytest.fixture
def vpc(fake_aws):
    """A VPC with subnets in eu-west-1a/b, a second VPC, a client group and an alarm topic."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        zone: ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for zone, cidr in (("eu-west-1a", "10.0.1.0/24"), ("eu-west-1b", "10.0.2.0/24"))
    }
    subnets["other-1c"] = ec2.create_subnet(
        VpcId=other_vpc, CidrBlock="10.1.3.0/24", AvailabilityZone="eu-west-1c"
    )["Subnet"]["SubnetId"]
    subnets["same-1a"] = ec2.create_subnet(
        VpcId=vpc_id, CidrBlock="10.0.4.0/24", AvailabilityZone="eu-west-1a"
    )["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="django", Description="app", VpcId=vpc_id)[
        "GroupId"
    ]
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="alarms")["TopicArn"]
    return {
        "vpc": vpc_id,
        "other_vpc": other_vpc,
        "subnets": subnets,
        "group": group,
        "topic": topic,
    }


def toolkit_stack(version="21", status="UPDATE_COMPLETE"):
    """The CDKToolkit stack as DescribeStacks returns it."""
    outputs = [] if version is None else [{"OutputKey": "BootstrapVersion", "OutputValue": version}]
    return {
        "StackName": "CDKToolkit",
        "CreationTime": "2026-01-01T00:00:00Z",
        "StackStatus": status,
        "Outputs": [{"OutputKey": "BucketName", "OutputValue": "cdk-staging"}, *outputs],
    }


TOOLKIT = toolkit_stack()


def cloudformation_with(stack):
    """A CloudFormation client (Stubber: moto's CloudFormation needs extras we do not install)
    whose DescribeStacks of CDKToolkit returns `stack`, or says it does not exist."""
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(cloudformation)
    if stack is None:
        stubber.add_client_error(
            "describe_stacks",
            service_error_code="ValidationError",
            service_message="Stack with id CDKToolkit does not exist",
            http_status_code=400,
            expected_params={"StackName": "CDKToolkit"},
        )
    else:
        stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "CDKToolkit"})
    stubber.activate()
    return cloudformation


def put_bootstrap_version(version="21", qualifier="hnb659fds"):
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=f"/cdk-bootstrap/{qualifier}/version", Value=version, Type="String"
    )


@pytest.fixture
def bootstrapped(vpc):
    put_bootstrap_version()
    return vpc


def imported(
    vpc, *, zones=("eu-west-1a", "eu-west-1b"), subnet_keys=None, broker_groups=(), **overrides
):
    subnet_keys = subnet_keys or zones
    raw = {
        "account": MOTO_ACCOUNT,
        "region": REGION,
        "network": {
            "mode": "import",
            "vpc_id": vpc["vpc"],
            "subnets": [
                {
                    "subnet_id": vpc["subnets"][key],
                    "availability_zone": zone,
                    "route_table_id": ROUTE_TABLE,
                }
                for key, zone in zip(subnet_keys, zones, strict=True)
            ],
            "broker_security_group_ids": list(broker_groups),
        },
        "client_access": {"security_group_ids": [vpc["group"]]},
        "monitoring": {"alarm_topic_arn": vpc["topic"]},
        # An existing environment's pin; the native-topic tests below override it.
        "topic": {"resource": "custom"},
        **overrides,
    }
    return load_environment("prod", raw)


class Clients:
    """Real moto clients, plus an MSK client whose responses are stubbed (moto lacks them)."""

    def __init__(self, versions=OFFERED, clusters=(), toolkit=TOOLKIT):
        self.toolkit = toolkit
        self.kafka = boto3.client("kafka", region_name=REGION)
        self.stubber = Stubber(self.kafka)
        self.stubber.add_response("list_kafka_versions", {"KafkaVersions": list(versions)})
        self.clusters = list(clusters)

    def expect_cluster_lookup(self, name):
        self.stubber.add_response(
            "list_clusters_v2",
            {"ClusterInfoList": [{"ClusterName": cluster} for cluster in self.clusters]},
            {"ClusterNameFilter": name},
        )

    def __call__(self, service, region):
        assert region == REGION
        if service == "kafka":
            self.stubber.activate()
            return self.kafka
        if service == "cloudformation":
            return cloudformation_with(self.toolkit)
        return boto3.client(service, region_name=region)


def findings(config, clients):
    return {finding.check: finding for finding in preflight.run_checks(config, clients)}


def test_everything_in_place_passes(bootstrapped):
    config = imported(bootstrapped, kafka_version="3.8.x")
    result = findings(config, Clients())
    assert [(check, finding.ok) for check, finding in result.items()] == [
        ("account", True),
        ("bootstrap", True),
        ("kafka version", True),
        ("broker type", True),
        ("network", True),
        ("client security groups", True),
        ("alarm topic", True),
    ]


def test_credentials_for_another_account_stop_the_checks(vpc):
    config = imported(vpc, account="222222222222")
    result = findings(config, Clients())
    assert list(result) == ["account"]
    assert result["account"].message == (
        f"credentials are for account {MOTO_ACCOUNT}, but environment 'prod' deploys to "
        "222222222222"
    )


def test_a_version_msk_offers_that_the_synth_table_lacks_is_named(vpc):
    config = imported(vpc, kafka_version="3.8.x")
    offered = [*OFFERED, {"Version": "4.2.x.kraft", "Status": "ACTIVE"}]
    finding = findings(config, Clients(versions=offered))["kafka version"]
    assert finding.ok
    assert finding.message == (
        "Kafka 3.8.x is offered in eu-west-1 (stacks/msk_versions.py, as of "
        f"{msk_versions.TABLE_DATE}, lacks 4.2.x.kraft: add them so synth knows them)"
    )


def test_kafka_version_not_offered_fails_naming_the_recommended_line(vpc):
    config = imported(vpc, kafka_version="2.6.0")
    finding = findings(config, Clients())["kafka version"]
    assert not finding.ok
    assert finding.message == (
        "MSK does not offer Kafka 2.6.0 in eu-west-1 (active: 3.7.x, 3.8.x); "
        'set "kafka_version": "3.8.x" for environment \'prod\''
    )


def test_deprecated_version_fails_for_a_new_cluster(vpc):
    config = imported(vpc)
    clients = Clients()
    clients.expect_cluster_lookup(config.cluster_name)
    finding = findings(config, clients)["kafka version"]
    assert not finding.ok
    assert "Kafka 2.8.1 is DEPRECATED in eu-west-1: MSK refuses new clusters" in finding.message
    assert '"kafka_version": "3.8.x"' in finding.message
    clients.stubber.assert_no_pending_responses()


def test_deprecated_version_passes_for_an_existing_cluster(vpc):
    config = imported(vpc)
    clients = Clients(clusters=[config.cluster_name])
    clients.expect_cluster_lookup(config.cluster_name)
    finding = findings(config, clients)["kafka version"]
    assert finding.ok
    assert "plan the upgrade" in finding.message


def test_missing_subnet_fails(vpc):
    config = imported(
        {**vpc, "subnets": {**vpc["subnets"], "eu-west-1a": "subnet-0123456789abcdef0"}}
    )
    finding = findings(config, Clients(versions=[{"Version": "2.8.1", "Status": "ACTIVE"}]))[
        "network"
    ]
    assert not finding.ok
    assert "subnet-0123456789abcdef0" in finding.message
    assert "InvalidSubnetID.NotFound" in finding.message


def test_subnet_in_another_vpc_fails(vpc):
    config = imported(
        vpc, zones=("eu-west-1a", "eu-west-1c"), subnet_keys=("eu-west-1a", "other-1c")
    )
    finding = findings(config, Clients(versions=[{"Version": "2.8.1", "Status": "ACTIVE"}]))[
        "network"
    ]
    assert not finding.ok
    assert (
        finding.message
        == f"{vpc['subnets']['other-1c']} is in {vpc['other_vpc']}, not {vpc['vpc']}"
    )


def test_subnets_really_in_one_zone_fail(vpc):
    config = imported(vpc, subnet_keys=("eu-west-1a", "same-1a"))
    finding = findings(config, Clients(versions=[{"Version": "2.8.1", "Status": "ACTIVE"}]))[
        "network"
    ]
    assert not finding.ok
    assert finding.message == (
        f"{vpc['subnets']['same-1a']} is in eu-west-1a, config says eu-west-1b; "
        "both subnets are in eu-west-1a; MSK needs two AZs"
    )


def test_created_network_needs_available_zones(fake_aws):
    raw = {
        "account": MOTO_ACCOUNT,
        "region": REGION,
        "network": {"mode": "create", "availability_zones": ["eu-west-1a", "eu-west-1b"]},
    }
    finding = preflight.check_network(
        load_environment("dev", raw), boto3.client("ec2", region_name=REGION)
    )
    assert finding.ok
    assert finding.message == "new VPC over eu-west-1a, eu-west-1b"


def test_broker_type_missing_from_a_zone_fails(fake_aws):
    raw = {
        "account": MOTO_ACCOUNT,
        "region": REGION,
        "network": {"mode": "create", "availability_zones": ["eu-west-1a", "eu-west-1z"]},
    }
    finding = preflight.check_broker_zones(
        load_environment("dev", raw), boto3.client("ec2", region_name=REGION)
    )
    assert not finding.ok
    assert finding.message.startswith("kafka.t3.small is not available in eu-west-1z")


def test_missing_client_security_group_fails(vpc):
    config = imported(vpc, client_access={"security_group_ids": ["sg-0123456789abcdef0"]})
    finding = findings(config, Clients(versions=[{"Version": "2.8.1", "Status": "ACTIVE"}]))[
        "client security groups"
    ]
    assert not finding.ok
    assert "InvalidGroup.NotFound" in finding.message


def test_broker_security_groups_are_checked_only_when_configured(vpc):
    config = imported(vpc)
    assert "broker security groups" not in findings(config, Clients(versions=ACTIVE_2_8_1))


def test_attached_broker_security_group_in_the_brokers_vpc_passes(vpc):
    finding = findings(imported(vpc, broker_groups=[vpc["group"]]), Clients(versions=ACTIVE_2_8_1))[
        "broker security groups"
    ]
    assert finding.ok, finding.message


def test_attached_broker_security_group_in_another_vpc_fails(vpc):
    ec2 = boto3.client("ec2", region_name=REGION)
    elsewhere = ec2.create_security_group(
        GroupName="brokers", Description="other VPC", VpcId=vpc["other_vpc"]
    )["GroupId"]
    finding = findings(imported(vpc, broker_groups=[elsewhere]), Clients(versions=ACTIVE_2_8_1))[
        "broker security groups"
    ]
    assert not finding.ok
    assert finding.message == (
        f"{elsewhere} not in {vpc['vpc']}, so MSK cannot attach them to the brokers"
    )


def test_missing_attached_broker_security_group_fails(vpc):
    finding = findings(
        imported(vpc, broker_groups=["sg-0123456789abcdef0"]), Clients(versions=ACTIVE_2_8_1)
    )["broker security groups"]
    assert not finding.ok
    assert "InvalidGroup.NotFound" in finding.message


def test_missing_alarm_topic_fails(vpc):
    config = imported(
        vpc, monitoring={"alarm_topic_arn": f"arn:aws:sns:{REGION}:{MOTO_ACCOUNT}:gone"}
    )
    finding = findings(config, Clients(versions=[{"Version": "2.8.1", "Status": "ACTIVE"}]))[
        "alarm topic"
    ]
    assert not finding.ok
    assert "NotFound" in finding.message


CREATED = {
    "account": MOTO_ACCOUNT,
    "region": REGION,
    "network": {"mode": "create", "availability_zones": ["eu-west-1a", "eu-west-1b"]},
}


def write_cdk_json(tmp_path, environments):
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"app": "python app.py", "context": {"environments": environments}}))
    return path


def test_main_exits_zero_and_prints_each_check(bootstrapped, tmp_path, capsys):
    vpc = bootstrapped
    config = imported(vpc, kafka_version="3.8.x")
    raw = {
        "account": config.account,
        "region": config.region,
        "kafka_version": "3.8.x",
        "network": {
            "mode": "import",
            "vpc_id": vpc["vpc"],
            "subnets": [
                {
                    "subnet_id": s.subnet_id,
                    "availability_zone": s.availability_zone,
                    "route_table_id": s.route_table_id,
                }
                for s in config.network.subnets
            ],
        },
    }
    clients = Clients()
    # 3.8.x defaults to the native topic: preflight looks for the cluster (not there yet).
    clients.stubber.add_response(
        "list_clusters_v2", {"ClusterInfoList": []}, {"ClusterNameFilter": config.cluster_name}
    )
    status = preflight.main(
        ["--env", "prod", "--cdk-json", str(write_cdk_json(tmp_path, {"prod": raw}))], clients
    )
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert (
        "  ok    topic: document-exceptions-cluster does not exist yet: nothing to compare" in out
    )
    assert out[0] == f"preflight prod (account {MOTO_ACCOUNT}, {REGION}):"
    assert out[-1] == "preflight passed"
    assert all(line.startswith("  ok  ") for line in out[1:-1])


def test_main_exits_one_when_a_check_fails(vpc, tmp_path, capsys):
    raw = {
        "account": MOTO_ACCOUNT,
        "region": REGION,
        "kafka_version": "2.6.0",
        "network": {"mode": "create", "availability_zones": ["eu-west-1a", "eu-west-1b"]},
    }
    status = preflight.main(
        ["--env", "dev", "--cdk-json", str(write_cdk_json(tmp_path, {"dev": raw}))], Clients()
    )
    out = capsys.readouterr().out
    assert status == 1
    assert "  FAIL  kafka version: MSK does not offer Kafka 2.6.0" in out
    assert out.splitlines()[-1] == "preflight failed: fix the FAIL lines before deploying"


def test_main_exits_two_on_unknown_environment(capsys):
    assert preflight.main(["--env", "qa"]) == 2
    assert capsys.readouterr().err.strip() == (
        "Configuration error: environment 'qa': unknown environment (known: dev, staging, prod)"
    )


def test_main_reads_the_repository_environments():
    configs = preflight.read_environments()
    assert list(configs) == ["dev", "staging", "prod"]


def test_main_exits_two_without_credentials(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    cdk_json = write_cdk_json(tmp_path, {"dev": CREATED})

    def no_credentials(service, region):
        session = botocore.session.Session()
        session.get_component("credential_provider").providers = []
        return session.create_client(service, region_name=region)

    assert preflight.main(["--env", "dev", "--cdk-json", str(cdk_json)], no_credentials) == 2
    assert "AWS error during preflight: Unable to locate credentials" in capsys.readouterr().err


# --- placeholders: refused before any AWS call -------------------------------------------


def no_aws(service, region):
    raise AssertionError(f"the placeholder check made an AWS call ({service}, {region})")


def test_every_committed_environment_is_refused_naming_its_placeholders(capsys):
    lines = {}
    for env in ("dev", "staging", "prod"):
        assert preflight.main(["--env", env], no_aws) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        (lines[env],) = captured.err.splitlines()
    assert lines["dev"] == (
        "environment 'dev' still has placeholder ids from cdk.json: account=111111111111; "
        "put your own in (README: First deploy)"
    )
    assert lines["prod"] == (
        "environment 'prod' still has placeholder ids from cdk.json: account=222222222222, "
        "network.vpc_id=vpc-12345678, network.subnets[0].subnet_id=subnet-12345678, "
        "network.subnets[0].route_table_id=rtb-12345678, "
        "network.subnets[1].subnet_id=subnet-87654321, "
        "network.subnets[1].route_table_id=rtb-87654321, "
        "client_access.security_group_ids[0]=sg-12345678, "
        "monitoring.alarm_topic_arn=arn:aws:sns:eu-west-1:222222222222:document-exceptions-alarms; "
        "put your own in (README: First deploy)"
    )
    for placeholder in preflight.PLACEHOLDER_IDS:
        assert placeholder in lines["staging"] + lines["prod"]


def test_placeholders_only_passes_real_ids_without_calling_aws(tmp_path):
    cdk_json = write_cdk_json(tmp_path, {"dev": CREATED})
    assert (
        preflight.main(["--env", "dev", "--cdk-json", str(cdk_json), "--placeholders-only"], no_aws)
        == 0
    )


def test_placeholders_only_refuses_the_committed_cdk_json(capsys):
    assert preflight.main(["--env", "staging", "--placeholders-only"], no_aws) == 2
    assert capsys.readouterr().err.startswith(
        "environment 'staging' still has placeholder ids from cdk.json: account=111111111111, "
        "network.vpc_id=vpc-12345678,"
    )


def test_ids_that_only_contain_a_placeholder_are_not_refused():
    raw = {
        **CREATED,
        "account": "111111111112",
        "client_access": {"security_group_ids": ["sg-12345678abcdef012"]},
    }
    config = load_environment("dev", raw)
    assert preflight.check_placeholders(config).ok


# --- bootstrap ------------------------------------------------------------------------------


def bootstrap_finding(stack=TOOLKIT, qualifier="hnb659fds"):
    return preflight.check_bootstrap(
        load_environment("dev", CREATED),
        cloudformation_with(stack),
        boto3.client("ssm", region_name=REGION),
        qualifier,
    )


def test_bootstrapped_account_passes(fake_aws):
    put_bootstrap_version()
    finding = bootstrap_finding()
    assert finding.ok
    assert finding.message == f"{MOTO_ACCOUNT}/{REGION} bootstrapped (version 21, hnb659fds)"


def test_missing_bootstrap_stack_says_how_to_bootstrap(fake_aws):
    finding = bootstrap_finding(stack=None)
    assert not finding.ok
    assert finding.message == (
        f"no CDKToolkit stack in {MOTO_ACCOUNT}/{REGION}: "
        f"run npx cdk bootstrap aws://{MOTO_ACCOUNT}/{REGION}"
    )


def test_bootstrap_with_another_qualifier_fails(fake_aws):
    put_bootstrap_version(qualifier="other")
    finding = bootstrap_finding()
    assert not finding.ok
    assert "/cdk-bootstrap/hnb659fds/version does not" in finding.message
    assert bootstrap_finding(qualifier="other").ok


def test_old_bootstrap_version_fails(fake_aws):
    put_bootstrap_version("5")
    finding = bootstrap_finding(toolkit_stack("5"))
    assert not finding.ok
    assert finding.message == (
        f"bootstrap version 5 in {MOTO_ACCOUNT}/{REGION} is older than 6, which the templates "
        f"require: run npx cdk bootstrap aws://{MOTO_ACCOUNT}/{REGION}"
    )


def test_bootstrap_output_and_parameter_disagreeing_fails(fake_aws):
    put_bootstrap_version("21")
    finding = bootstrap_finding(toolkit_stack("20"))
    assert not finding.ok
    assert "output BootstrapVersion 20 differs from /cdk-bootstrap/hnb659fds/version 21" in (
        finding.message
    )


def test_failed_bootstrap_stack_fails(fake_aws):
    put_bootstrap_version()
    finding = bootstrap_finding(toolkit_stack(status="ROLLBACK_COMPLETE"))
    assert not finding.ok
    assert finding.message.startswith(f"CDKToolkit in {MOTO_ACCOUNT}/{REGION} is ROLLBACK_COMPLETE")


def test_unbootstrapped_account_fails_preflight(vpc):
    config = imported(vpc, kafka_version="3.8.x")
    result = findings(config, Clients(toolkit=None))
    assert not result["bootstrap"].ok
    assert result["bootstrap"].message.startswith("no CDKToolkit stack")
    assert result["kafka version"].ok


def test_minimum_bootstrap_version_is_the_one_the_templates_check():
    for snapshot in SNAPSHOTS.glob("DocumentExceptions-*.json"):
        rule = json.loads(snapshot.read_text())["Rules"]["CheckBootstrapVersion"]
        (assertion,) = rule["Assertions"]
        refused = assertion["Assert"]["Fn::Not"][0]["Fn::Contains"][0]
        assert refused == [str(v) for v in range(1, preflight.MIN_BOOTSTRAP_VERSION)], snapshot


def test_qualifier_comes_from_cdk_json(tmp_path):
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {"@aws-cdk/core:bootstrapQualifier": "acme1"}}))
    assert preflight.read_bootstrap_qualifier(path) == "acme1"
    assert preflight.read_bootstrap_qualifier() == "hnb659fds"


def test_checks_can_run_with_the_accounts_lookup_role(fake_aws):
    config = load_environment("dev", CREATED)
    clients = preflight.lookup_role_clients(config, "hnb659fds", Clients())
    caller = clients("sts", REGION).get_caller_identity()["Arn"]
    assert caller == (
        f"arn:aws:sts::{MOTO_ACCOUNT}:assumed-role/"
        f"cdk-hnb659fds-lookup-role-{MOTO_ACCOUNT}-{REGION}/document-exceptions-preflight"
    )


@pytest.mark.parametrize("target", ["deploy", "deploy-ci"])
def test_make_deploy_checks_placeholders_before_it_synthesizes(target):
    repo = Path(__file__).resolve().parents[1]
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", target, "ENV=prod"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    check = next(i for i, line in enumerate(dry_run) if "--placeholders-only" in line)
    deploy = next(i for i, line in enumerate(dry_run) if " cdk deploy " in line)
    assert check < deploy
    assert dry_run[check].endswith("-m tools.preflight --env prod --placeholders-only")


# --- a native topic (AWS::MSK::Topic) on an existing cluster -----------------------------------

NATIVE = {"resource": "native", "partitions": 6, "replication_factor": 2}
CLUSTER_ARN = "arn:aws:kafka:eu-west-1:123456789012:cluster/document-exceptions-cluster/abc-1"


def native_topic_finding(vpc, topic, *, described=None, cluster_exists=True):
    config = imported(vpc, kafka_version="3.8.x", topic=topic)
    clients = Clients()
    clusters = [{"ClusterName": config.cluster_name, "ClusterArn": CLUSTER_ARN}]
    clients.stubber.add_response(
        "list_clusters_v2",
        {"ClusterInfoList": clusters if cluster_exists else []},
        {"ClusterNameFilter": config.cluster_name},
    )
    if described in ("missing", "denied"):
        code, status = (
            ("NotFoundException", 404) if described == "missing" else ("AccessDeniedException", 403)
        )
        clients.stubber.add_client_error("describe_topic", code, "refused", status)
    elif described is not None:
        clients.stubber.add_response(
            "describe_topic",
            {"TopicName": config.topic.name, **described},
            {"ClusterArn": CLUSTER_ARN, "TopicName": config.topic.name},
        )
    finding = findings(config, clients)["topic"]
    clients.stubber.assert_no_pending_responses()
    return finding


def test_native_topic_partition_decrease_fails_before_deploy(vpc):
    finding = native_topic_finding(
        vpc, {**NATIVE, "partitions": 3}, described={"PartitionCount": 6, "ReplicationFactor": 2}
    )
    assert not finding.ok
    assert finding.message == (
        "DocumentExceptions: topic.partitions 3 is below the topic's 6 (Kafka cannot reduce "
        "partitions; MSK refuses and the deploy rolls back)"
    )


def test_native_topic_replication_factor_change_fails_before_deploy(vpc):
    finding = native_topic_finding(
        vpc,
        {**NATIVE, "replication_factor": 1},
        described={"PartitionCount": 6, "ReplicationFactor": 2},
    )
    assert not finding.ok
    assert "topic.replication_factor 1 differs from the topic's 2" in finding.message


def test_native_topic_growth_passes(vpc):
    finding = native_topic_finding(
        vpc, {**NATIVE, "partitions": 12}, described={"PartitionCount": 6, "ReplicationFactor": 2}
    )
    assert finding.ok
    assert finding.message == "DocumentExceptions: 6 -> 12 partitions, replication factor 2"


def test_native_topic_on_a_new_cluster_or_a_missing_topic_passes(vpc):
    assert native_topic_finding(vpc, NATIVE, cluster_exists=False).ok
    missing = native_topic_finding(vpc, NATIVE, described="missing")
    assert missing.ok
    assert "does not exist yet: the deploy creates it" in missing.message


def test_native_topic_check_says_so_when_it_may_not_read_the_topic(vpc):
    finding = native_topic_finding(vpc, NATIVE, described="denied")
    assert finding.ok
    assert finding.message == "DocumentExceptions: not checked (AccessDeniedException: refused)"
