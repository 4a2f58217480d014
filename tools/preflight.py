"""Pre-deploy checks against the real AWS account: `python -m tools.preflight --env prod`.

Run with credentials for the environment's account before `cdk deploy` (never during synth).
It reads the environments from cdk.json exactly as app.py does. First, with no AWS call, it
refuses the placeholder ids cdk.json ships with (`--placeholders-only` stops there: `make
deploy` runs that before it synthesizes). Then it checks what synth cannot: the credentials'
account, that the account and region are CDK-bootstrapped (the `CDKToolkit` stack and the
bootstrap version parameter the templates check), that MSK offers the configured Kafka
version in the region (and whether it is deprecated), that the broker type's EC2 family is
offered in the two broker AZs, that imported subnets exist in the configured VPC and AZs, that
client security groups, the existing groups attached to the brokers (in the brokers' VPC) and
the alarm topic exist, and, for a native topic (`AWS::MSK::Topic`) on an existing cluster, that
cdk.json asks for no fewer partitions and the same replication factor as the topic has (the
deploy would fail and roll back). Exit status: 0 all passed, 1 a check
failed, 2 configuration (placeholders included) or credentials problem.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from stacks import msk_versions
from stacks.config import (
    BOOTSTRAP_QUALIFIER_CONTEXT,
    DEFAULT_BOOTSTRAP_QUALIFIER,
    ConfigError,
    EnvironmentConfig,
    bootstrap_role_name,
    load_bootstrap_qualifier,
    load_environments,
    select_environments,
)
from stacks.msk_versions import RECOMMENDED_KAFKA_LINE

REPO_ROOT = Path(__file__).resolve().parents[1]
ClientFactory = Callable[[str, str], Any]

# The example ids the committed cdk.json carries: two accounts and the guide's broker-info.json.
PLACEHOLDER_IDS = (
    "111111111111",
    "222222222222",
    "vpc-12345678",
    "subnet-12345678",
    "subnet-87654321",
    "rtb-12345678",
    "rtb-87654321",
    "sg-12345678",
)
_PLACEHOLDER = re.compile(rf"(?<![\w-])({'|'.join(map(re.escape, PLACEHOLDER_IDS))})(?![\w-])")
BOOTSTRAP_STACK = "CDKToolkit"
# The synthesized templates' CheckBootstrapVersion rule refuses versions below this one
# (tests/test_preflight.py reads the rule from the snapshots, so the two cannot drift).
MIN_BOOTSTRAP_VERSION = 6
_USABLE_STACK_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"}


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str

    def line(self) -> str:
        return f"  {'ok  ' if self.ok else 'FAIL'}  {self.check}: {self.message}"


def read_environments(cdk_json: Path = REPO_ROOT / "cdk.json") -> dict[str, EnvironmentConfig]:
    """The environments of cdk.json, validated by the same loader app.py uses."""
    return load_environments(json.loads(cdk_json.read_text())["context"].get("environments"))


def read_bootstrap_qualifier(cdk_json: Path = REPO_ROOT / "cdk.json") -> str:
    """The bootstrap qualifier the app's synthesizer uses (cdk.json's, else CDK's default)."""
    context = json.loads(cdk_json.read_text())["context"]
    return load_bootstrap_qualifier(context.get(BOOTSTRAP_QUALIFIER_CONTEXT))


def placeholders(config: EnvironmentConfig) -> list[str]:
    """`key=value` for every setting of `config` that still holds a placeholder id."""
    found: list[str] = []

    def walk(value: Any, path: str) -> None:
        if dataclasses.is_dataclass(value):
            for spec in dataclasses.fields(value):
                walk(getattr(value, spec.name), f"{path}.{spec.name}" if path else spec.name)
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")
        elif isinstance(value, str) and path != "name" and _PLACEHOLDER.search(value):
            found.append(f"{path}={value}")

    walk(config, "")
    return found


def check_placeholders(config: EnvironmentConfig) -> Finding:
    """No AWS call: the environment must not deploy to the example account, VPC or subnets."""
    found = placeholders(config)
    if found:
        return Finding(
            "placeholders",
            False,
            f"environment '{config.name}' still has placeholder ids from cdk.json: "
            f"{', '.join(found)}; put your own in (README: First deploy)",
        )
    return Finding("placeholders", True, "no placeholder ids")


def check_bootstrap(
    config: EnvironmentConfig, cloudformation: Any, ssm: Any, qualifier: str
) -> Finding:
    """`cdk bootstrap aws://ACCOUNT/REGION` ran: the CDKToolkit stack and its version parameter."""
    bootstrap = f"npx cdk bootstrap aws://{config.account}/{config.region}"
    where = f"{config.account}/{config.region}"
    try:
        (stack,) = cloudformation.describe_stacks(StackName=BOOTSTRAP_STACK)["Stacks"]
    except ClientError as error:
        if "does not exist" not in str(error):
            raise
        return Finding(
            "bootstrap", False, f"no {BOOTSTRAP_STACK} stack in {where}: run {bootstrap}"
        )
    status = stack["StackStatus"]
    if status not in _USABLE_STACK_STATES:
        return Finding(
            "bootstrap",
            False,
            f"{BOOTSTRAP_STACK} in {where} is {status}: fix it, then {bootstrap}",
        )
    parameter = f"/cdk-bootstrap/{qualifier}/version"
    try:
        version = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
        return Finding(
            "bootstrap",
            False,
            f"{BOOTSTRAP_STACK} exists but {parameter} does not (bootstrapped with another "
            f"qualifier than {qualifier}?): run {bootstrap}",
        )
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    if not version.isdigit() or int(version) < MIN_BOOTSTRAP_VERSION:
        return Finding(
            "bootstrap",
            False,
            f"bootstrap version {version} in {where} is older than {MIN_BOOTSTRAP_VERSION}, "
            f"which the templates require: run {bootstrap}",
        )
    if outputs.get("BootstrapVersion") not in (None, version):
        return Finding(
            "bootstrap",
            False,
            f"{BOOTSTRAP_STACK} output BootstrapVersion {outputs['BootstrapVersion']} differs "
            f"from {parameter} {version}: run {bootstrap}",
        )
    return Finding("bootstrap", True, f"{where} bootstrapped (version {version}, {qualifier})")


def check_account(config: EnvironmentConfig, sts: Any) -> Finding:
    account = sts.get_caller_identity()["Account"]
    if account != config.account:
        return Finding(
            "account",
            False,
            f"credentials are for account {account}, but environment '{config.name}' deploys "
            f"to {config.account}",
        )
    return Finding("account", True, f"credentials are for {account}")


def check_kafka_version(config: EnvironmentConfig, kafka: Any) -> Finding:
    """The version must be offered in the region; a deprecated one only for an existing cluster.

    MSK's answer is compared with the table synth uses (stacks/msk_versions.py): a version
    MSK offers that the table lacks is named, so the table can be brought up to date.
    """
    offered = {
        version["Version"]: version.get("Status", "ACTIVE")
        for page in kafka.get_paginator("list_kafka_versions").paginate()
        for version in page["KafkaVersions"]
    }
    version = config.kafka_version
    switch = f'set "kafka_version": "{RECOMMENDED_KAFKA_LINE}" for environment \'{config.name}\''
    behind = _table_behind(offered)
    if version not in offered:
        active = ", ".join(sorted(v for v, status in offered.items() if status == "ACTIVE"))
        return Finding(
            "kafka version",
            False,
            f"MSK does not offer Kafka {version} in {config.region} (active: {active}); "
            f"{switch}{behind}",
        )
    if offered[version] != "ACTIVE":
        clusters = kafka.list_clusters_v2(ClusterNameFilter=config.cluster_name)["ClusterInfoList"]
        if not any(cluster["ClusterName"] == config.cluster_name for cluster in clusters):
            return Finding(
                "kafka version",
                False,
                f"Kafka {version} is {offered[version]} in {config.region}: MSK refuses new "
                f"clusters on it and {config.cluster_name} does not exist yet; {switch}{behind}",
            )
        return Finding(
            "kafka version",
            True,
            f"Kafka {version} is {offered[version]}; {config.cluster_name} exists and keeps "
            f"running, but plan the upgrade ({switch}){behind}",
        )
    return Finding("kafka version", True, f"Kafka {version} is offered in {config.region}{behind}")


def check_native_topic(config: EnvironmentConfig, kafka: Any) -> Finding | None:
    """A native topic must not shrink or change its replication factor: CloudFormation cannot.

    MSK refuses a partition decrease, and a ReplicationFactor change makes CloudFormation
    replace the topic, whose create step fails while the topic exists; either way the deploy
    fails and rolls back. Synth cannot see the deployed topic; MSK's topic API can. (The
    custom resource checks the same at deploy time, before it changes anything.)
    """
    if config.topic.resource != "native":
        return None
    topic = config.topic
    clusters = kafka.list_clusters_v2(ClusterNameFilter=config.cluster_name)["ClusterInfoList"]
    arns = [c["ClusterArn"] for c in clusters if c["ClusterName"] == config.cluster_name]
    if not arns:
        return Finding(
            "topic", True, f"{config.cluster_name} does not exist yet: nothing to compare"
        )
    try:
        actual = kafka.describe_topic(ClusterArn=arns[0], TopicName=topic.name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NotFoundException":
            return Finding("topic", True, f"{topic.name} does not exist yet: the deploy creates it")
        # The topic API needs kafka-cluster:Connect and DescribeTopic, which read-only roles
        # may lack: say the check did not run rather than fail the deploy on it.
        return Finding("topic", True, f"{topic.name}: not checked ({_aws_message(error)})")
    problems = []
    if topic.partitions < actual["PartitionCount"]:
        problems.append(
            f"topic.partitions {topic.partitions} is below the topic's {actual['PartitionCount']} "
            "(Kafka cannot reduce partitions; MSK refuses and the deploy rolls back)"
        )
    if topic.replication_factor != actual["ReplicationFactor"]:
        problems.append(
            f"topic.replication_factor {topic.replication_factor} differs from the topic's "
            f"{actual['ReplicationFactor']} (CloudFormation would replace the topic; the new "
            "one's create fails while it exists; reassign partitions by hand instead)"
        )
    if problems:
        return Finding("topic", False, f"{topic.name}: " + "; ".join(problems))
    return Finding(
        "topic",
        True,
        f"{topic.name}: {actual['PartitionCount']} -> {topic.partitions} partitions, "
        f"replication factor {topic.replication_factor}",
    )


def _table_behind(offered: dict[str, str]) -> str:
    """A note naming the active versions MSK offers that stacks/msk_versions.py lacks."""
    missing = sorted(
        v for v, status in offered.items() if status == "ACTIVE" and msk_versions.lookup(v) is None
    )
    if not missing:
        return ""
    return (
        f" (stacks/msk_versions.py, as of {msk_versions.TABLE_DATE}, lacks {', '.join(missing)}: "
        "add them so synth knows them)"
    )


def check_broker_zones(config: EnvironmentConfig, ec2: Any) -> Finding:
    """MSK has no offerings API; the broker type's EC2 family must exist in both broker AZs."""
    zones = list(config.network.availability_zones)
    ec2_type = config.broker_instance_type.removeprefix("kafka.")
    offerings = ec2.describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[
            {"Name": "instance-type", "Values": [ec2_type]},
            {"Name": "location", "Values": zones},
        ],
    )["InstanceTypeOfferings"]
    missing = sorted(set(zones) - {offering["Location"] for offering in offerings})
    if missing:
        return Finding(
            "broker type",
            False,
            f"{config.broker_instance_type} is not available in {', '.join(missing)}; choose "
            "another broker_instance_type or other subnets",
        )
    return Finding(
        "broker type", True, f"{config.broker_instance_type} is available in {', '.join(zones)}"
    )


def check_network(config: EnvironmentConfig, ec2: Any) -> Finding:
    network = config.network
    if network.mode == "create":
        zones = {
            zone["ZoneName"]: zone["State"]
            for zone in ec2.describe_availability_zones(ZoneNames=list(network.availability_zones))[
                "AvailabilityZones"
            ]
        }
        unavailable = [z for z in network.availability_zones if zones.get(z) != "available"]
        if unavailable:
            return Finding("network", False, f"AZs not available: {', '.join(unavailable)}")
        return Finding("network", True, f"new VPC over {', '.join(network.availability_zones)}")
    subnet_ids = [subnet.subnet_id for subnet in network.subnets]
    try:
        found = ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    except ClientError as error:
        return Finding("network", False, f"subnets {', '.join(subnet_ids)}: {_aws_message(error)}")
    actual = {subnet["SubnetId"]: subnet for subnet in found}
    problems = []
    for subnet in network.subnets:
        real = actual.get(subnet.subnet_id)
        if real is None:
            problems.append(f"{subnet.subnet_id} does not exist")
            continue
        if real["VpcId"] != network.vpc_id:
            problems.append(f"{subnet.subnet_id} is in {real['VpcId']}, not {network.vpc_id}")
        if real["AvailabilityZone"] != subnet.availability_zone:
            problems.append(
                f"{subnet.subnet_id} is in {real['AvailabilityZone']}, "
                f"config says {subnet.availability_zone}"
            )
    zones = {subnet["AvailabilityZone"] for subnet in found}
    if len(found) == 2 and len(zones) != 2:
        problems.append(f"both subnets are in {zones.pop()}; MSK needs two AZs")
    if problems:
        return Finding("network", False, "; ".join(problems))
    return Finding(
        "network",
        True,
        f"subnets {', '.join(subnet_ids)} in {network.vpc_id} span {', '.join(sorted(zones))}",
    )


def check_client_security_groups(config: EnvironmentConfig, ec2: Any) -> Finding | None:
    return _check_security_groups(
        "client security groups",
        config.client_access.security_group_ids,
        config,
        ec2,
        "so rules cannot use them",
    )


def check_broker_security_groups(config: EnvironmentConfig, ec2: Any) -> Finding | None:
    """Existing groups attached to the brokers must be in the brokers' VPC, or MSK refuses."""
    return _check_security_groups(
        "broker security groups",
        config.network.broker_security_group_ids,
        config,
        ec2,
        "so MSK cannot attach them to the brokers",
    )


def _check_security_groups(
    check: str, group_ids: tuple[str, ...], config: EnvironmentConfig, ec2: Any, consequence: str
) -> Finding | None:
    groups = list(group_ids)
    if not groups:
        return None
    try:
        found = ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]
    except ClientError as error:
        return Finding(check, False, f"{', '.join(groups)}: {_aws_message(error)}")
    if config.network.mode == "import":
        elsewhere = [g["GroupId"] for g in found if g["VpcId"] != config.network.vpc_id]
        if elsewhere:
            return Finding(
                check,
                False,
                f"{', '.join(elsewhere)} not in {config.network.vpc_id}, {consequence}",
            )
    return Finding(check, True, f"{', '.join(groups)} exist")


def check_alarm_topic(config: EnvironmentConfig, sns: Any) -> Finding | None:
    arn = config.monitoring.alarm_topic_arn
    if arn is None:
        return None
    try:
        sns.get_topic_attributes(TopicArn=arn)
    except ClientError as error:
        return Finding("alarm topic", False, f"{arn}: {_aws_message(error)}")
    return Finding("alarm topic", True, f"{arn} exists")


def run_checks(
    config: EnvironmentConfig,
    client: ClientFactory,
    qualifier: str = DEFAULT_BOOTSTRAP_QUALIFIER,
) -> Iterator[Finding]:
    """Every AWS check for one environment; stops after a wrong-account finding."""
    account = check_account(config, client("sts", config.region))
    yield account
    if not account.ok:
        return
    yield check_bootstrap(
        config, client("cloudformation", config.region), client("ssm", config.region), qualifier
    )
    ec2 = client("ec2", config.region)
    kafka = client("kafka", config.region)
    yield check_kafka_version(config, kafka)
    yield check_broker_zones(config, ec2)
    yield check_network(config, ec2)
    for optional in (
        check_native_topic(config, kafka),
        check_client_security_groups(config, ec2),
        check_broker_security_groups(config, ec2),
        check_alarm_topic(config, client("sns", config.region)),
    ):
        if optional is not None:
            yield optional


def _aws_message(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code', 'error')}: {details.get('Message', error)}"


def _boto3_client(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)


def lookup_role_clients(
    config: EnvironmentConfig, qualifier: str, client: ClientFactory
) -> ClientFactory:
    """Clients with the account's CDK lookup role (read-only), for callers allowed nothing else.

    The GitHub Actions deploy role may only assume the bootstrap roles; the lookup role's
    ReadOnlyAccess covers every call preflight makes.
    """
    sts = client("sts", config.region)
    partition = sts.get_caller_identity()["Arn"].split(":")[1]
    role = bootstrap_role_name(qualifier, "lookup", config.account, config.region)
    credentials = sts.assume_role(
        RoleArn=f"arn:{partition}:iam::{config.account}:role/{role}",
        RoleSessionName="document-exceptions-preflight",
    )["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    return lambda service, region: session.client(service, region_name=region)


def main(argv: list[str] | None = None, client: ClientFactory = _boto3_client) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.preflight", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--env", required=True, help="environment name from cdk.json")
    parser.add_argument("--cdk-json", type=Path, default=REPO_ROOT / "cdk.json")
    parser.add_argument(
        "--placeholders-only",
        action="store_true",
        help="only refuse placeholder ids (no AWS call; make deploy runs this before synth)",
    )
    parser.add_argument(
        "--via-lookup-role",
        action="store_true",
        help="make the checks with the account's CDK lookup role (CI deploy roles need this)",
    )
    args = parser.parse_args(argv)
    try:
        (config,) = select_environments(read_environments(args.cdk_json), args.env)
        qualifier = read_bootstrap_qualifier(args.cdk_json)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    unreplaced = check_placeholders(config)
    if not unreplaced.ok:
        print(unreplaced.message, file=sys.stderr)
        return 2
    if args.placeholders_only:
        return 0
    print(f"preflight {config.name} (account {config.account}, {config.region}):")
    failed = False
    try:
        if args.via_lookup_role:
            client = lookup_role_clients(config, qualifier, client)
        for finding in run_checks(config, client, qualifier):
            print(finding.line())
            failed |= not finding.ok
    except (BotoCoreError, ClientError) as error:  # credentials or permissions, not a traceback
        message = _aws_message(error) if isinstance(error, ClientError) else str(error)
        print(f"AWS error during preflight: {message}", file=sys.stderr)
        return 2
    print("preflight failed: fix the FAIL lines before deploying" if failed else "preflight passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
