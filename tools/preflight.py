"""Pre-deploy checks against the real AWS account: `python -m tools.preflight --env prod`.

Run with credentials for the environment's account before `cdk deploy` (never during synth).
It reads the environments from cdk.json exactly as app.py does and checks what synth cannot:
the credentials' account, that MSK offers the configured Kafka version in the region (and
whether it is deprecated), that the broker type's EC2 family is offered in the two broker AZs,
that imported subnets exist in the configured VPC and AZs, that client security groups, the
existing groups attached to the brokers (in the brokers' VPC) and the alarm topic exist.
Exit status: 0 all passed, 1 a check failed, 2 configuration or credentials problem.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from stacks.config import (
    RECOMMENDED_KAFKA_LINE,
    ConfigError,
    EnvironmentConfig,
    load_environments,
    select_environments,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
ClientFactory = Callable[[str, str], Any]


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
    """The version must be offered in the region; a deprecated one only for an existing cluster."""
    offered = {
        version["Version"]: version.get("Status", "ACTIVE")
        for page in kafka.get_paginator("list_kafka_versions").paginate()
        for version in page["KafkaVersions"]
    }
    version = config.kafka_version
    switch = f'set "kafka_version": "{RECOMMENDED_KAFKA_LINE}" for environment \'{config.name}\''
    if version not in offered:
        active = ", ".join(sorted(v for v, status in offered.items() if status == "ACTIVE"))
        return Finding(
            "kafka version",
            False,
            f"MSK does not offer Kafka {version} in {config.region} (active: {active}); {switch}",
        )
    if offered[version] != "ACTIVE":
        clusters = kafka.list_clusters_v2(ClusterNameFilter=config.cluster_name)["ClusterInfoList"]
        if not any(cluster["ClusterName"] == config.cluster_name for cluster in clusters):
            return Finding(
                "kafka version",
                False,
                f"Kafka {version} is {offered[version]} in {config.region}: MSK refuses new "
                f"clusters on it and {config.cluster_name} does not exist yet; {switch}",
            )
        return Finding(
            "kafka version",
            True,
            f"Kafka {version} is {offered[version]}; {config.cluster_name} exists and keeps "
            f"running, but plan the upgrade ({switch})",
        )
    return Finding("kafka version", True, f"Kafka {version} is offered in {config.region}")


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


def run_checks(config: EnvironmentConfig, client: ClientFactory) -> Iterator[Finding]:
    """Every check for one environment; stops after a wrong-account finding."""
    account = check_account(config, client("sts", config.region))
    yield account
    if not account.ok:
        return
    ec2 = client("ec2", config.region)
    yield check_kafka_version(config, client("kafka", config.region))
    yield check_broker_zones(config, ec2)
    yield check_network(config, ec2)
    for optional in (
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


def main(argv: list[str] | None = None, client: ClientFactory = _boto3_client) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.preflight", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--env", required=True, help="environment name from cdk.json")
    parser.add_argument("--cdk-json", type=Path, default=REPO_ROOT / "cdk.json")
    args = parser.parse_args(argv)
    try:
        (config,) = select_environments(read_environments(args.cdk_json), args.env)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    print(f"preflight {config.name} (account {config.account}, {config.region}):")
    failed = False
    try:
        for finding in run_checks(config, client):
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
