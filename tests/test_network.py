"""stacks/network.py: imported or created VPC, two broker subnets, interface endpoints."""

from __future__ import annotations

import dataclasses

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Template

from stacks.config import NetworkSettings
from stacks.network import Network
from tests.client_access_stack import build_log_groups
from tests.stack_fixtures import ENVIRONMENTS

ENDPOINTS_GROUP = {"Fn::GetAtt": ["NetworkEndpointsSecurityGroup2BB02345", "GroupId"]}


def probe_network(settings: NetworkSettings) -> tuple[Network, Template]:
    """A Network alone in a stack, for settings the repository's environments do not use."""
    stack = cdk.Stack(
        cdk.App(
            context={
                "availability-zones:account=123456789012:region=eu-west-1": [
                    "eu-west-1a",
                    "eu-west-1b",
                ]
            }
        ),
        "Probe",
        env=cdk.Environment(account="123456789012", region="eu-west-1"),
    )
    network = Network(
        stack,
        "Network",
        settings=settings,
        region="eu-west-1",
        log_groups=build_log_groups(stack),
    )
    return network, Template.from_stack(stack)


def test_dev_creates_a_vpc_over_two_zones_with_isolated_subnets(stack_templates):
    template = stack_templates["dev"]
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": "10.20.0.0/16"})
    subnets = template.find_resources("AWS::EC2::Subnet")
    assert sorted(subnet["Properties"]["AvailabilityZone"] for subnet in subnets.values()) == [
        "eu-west-1a",
        "eu-west-1b",
    ]
    assert all(not subnet["Properties"]["MapPublicIpOnLaunch"] for subnet in subnets.values())


def test_dev_has_no_nat_and_no_internet_gateway(stack_templates):
    template = stack_templates["dev"]
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)


def test_created_vpc_logs_rejected_traffic(stack_templates):
    stack_templates["dev"].has_resource_properties(
        "AWS::EC2::FlowLog", {"ResourceType": "VPC", "TrafficType": "REJECT"}
    )


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_imported_environments_create_no_vpc(env, stack_templates):
    for resource_type in ("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::RouteTable"):
        stack_templates[env].resource_count_is(resource_type, 0)


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize(
    ("endpoint", "service"),
    [
        ("NetworkSecretsManagerEndpointA38CF6FB", "com.amazonaws.eu-west-1.secretsmanager"),
        ("NetworkKafkaApiEndpoint9F5D5CF1", "aws.api.eu-west-1.kafka-api"),
        ("NetworkSqsEndpoint70892530", "com.amazonaws.eu-west-1.sqs"),
    ],
)
def test_interface_endpoint_serves_private_subnets(env, endpoint, service, stack_templates):
    template = stack_templates[env].to_json()
    properties = template["Resources"][endpoint]["Properties"]
    assert properties["VpcEndpointType"] == "Interface"
    assert properties["ServiceName"] == service
    # Private DNS only in the VPC this app creates; see the next test for imported ones.
    assert properties["PrivateDnsEnabled"] is (env == "dev")
    assert properties["SecurityGroupIds"] == [ENDPOINTS_GROUP]
    broker_subnets = template["Resources"]["KafkaCluster21A1BE89"]["Properties"][
        "BrokerNodeGroupInfo"
    ]["ClientSubnets"]
    assert properties["SubnetIds"] == broker_subnets


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_endpoints_security_group_is_closed_until_clients_are_allowed(env, stack_templates):
    template = stack_templates[env].to_json()
    group = template["Resources"]["NetworkEndpointsSecurityGroup2BB02345"]["Properties"]
    assert "SecurityGroupIngress" not in group
    ingress = [
        rule
        for rule in template["Resources"].values()
        if rule["Type"] == "AWS::EC2::SecurityGroupIngress"
        and rule["Properties"]["GroupId"] == ENDPOINTS_GROUP
    ]
    assert all(rule["Properties"]["FromPort"] == 443 for rule in ingress)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_broker_subnets_are_two_subnets_in_two_zones(env, synthesized, environment_configs):
    subnets = synthesized.stacks[env].network.broker_subnets.subnets
    assert len(subnets) == 2
    zones = [subnet.availability_zone for subnet in subnets]
    assert zones == list(environment_configs[env].network.availability_zones)
    assert len(set(zones)) == 2


def test_imported_vpc_keeps_the_configured_ids(synthesized, environment_configs):
    network = synthesized.stacks["prod"].network
    settings = environment_configs["prod"].network
    assert network.vpc.vpc_id == settings.vpc_id
    assert [subnet.subnet_id for subnet in network.broker_subnets.subnets] == [
        subnet.subnet_id for subnet in settings.subnets
    ]
    assert [subnet.route_table.route_table_id for subnet in network.broker_subnets.subnets] == [
        subnet.route_table_id for subnet in settings.subnets
    ]


def test_endpoints_off_leaves_no_endpoints_and_no_endpoint_group(environment_configs):
    settings = dataclasses.replace(environment_configs["prod"].network, interface_endpoints=False)
    network, template = probe_network(settings)
    assert network.endpoints_security_group is None
    template.resource_count_is("AWS::EC2::VPCEndpoint", 0)
    template.resource_count_is("AWS::EC2::SecurityGroup", 0)


def test_nat_option_adds_gateways_and_routes_brokers_through_them(environment_configs):
    settings = dataclasses.replace(environment_configs["dev"].network, nat_gateways=1)
    network, template = probe_network(settings)
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    assert len(network.broker_subnets.subnets) == 2
    assert {subnet.subnet_id for subnet in network.broker_subnets.subnets} == {
        subnet.subnet_id
        for subnet in network.vpc.select_subnets(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
        ).subnets
    }


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_imported_vpc_lambdas_reach_the_endpoints_by_their_own_names(env, stack_templates):
    """Private DNS off keeps the services' public names for the VPC's other workloads; the
    Lambdas get botocore's AWS_ENDPOINT_URL_<SERVICE> pointing at each endpoint."""
    template = stack_templates[env].to_json()
    for function in ("ProducerFunction209DD675", "TopicBootstrapOnEvent09D1F48C"):
        variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        for variable, endpoint in (
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "NetworkSecretsManagerEndpointA38CF6FB"),
            ("AWS_ENDPOINT_URL_SQS", "NetworkSqsEndpoint70892530"),
            ("AWS_ENDPOINT_URL_KAFKA", "NetworkKafkaApiEndpoint9F5D5CF1"),
        ):
            assert endpoint in str(variables[variable]), variable
