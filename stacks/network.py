"""Where the brokers and the project's Lambdas live: an imported or a new two-AZ VPC."""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from stacks.config import DEFAULT_VPC_CIDR, NetworkSettings
from stacks.log_groups import EncryptedLogGroups


class Network(Construct):
    """The VPC, the two broker subnets and (optionally) interface endpoints.

    `mode="import"` takes an existing VPC by ids (never a lookup, so synth stays offline);
    `mode="create"` builds a VPC over two AZs with private subnets, isolated unless NAT
    gateways are configured. Interface endpoints for Secrets Manager, SQS and the MSK
    control-plane API let the Lambdas in the private subnets work without NAT.

    Private DNS on an interface endpoint answers the service's public name for the whole
    VPC, and the endpoints admit only this app's Lambdas. That is right in a VPC this app
    creates; in an imported VPC it would cut every other workload (the Django app's client
    group among them) off those APIs, or collide with endpoints the VPC already has. So in
    an imported VPC private DNS is off by default and the Lambdas are pointed at the
    endpoints by name instead: `endpoint_environment` holds botocore's service-specific
    `AWS_ENDPOINT_URL_<SERVICE>` variables with each endpoint's regional DNS name.

    `broker_subnets` selects exactly the two broker subnets (two AZs);
    `endpoints_security_group` is None when endpoints are off.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: NetworkSettings,
        region: str,
        log_groups: EncryptedLogGroups,
    ) -> None:
        super().__init__(scope, id)
        self.settings = settings
        if settings.mode == "import":
            self.vpc, subnets = self._import(settings)
        else:
            self.vpc, subnets = self._create(settings, log_groups)
        self.broker_subnets = ec2.SubnetSelection(subnets=subnets)
        self.endpoints_security_group: ec2.ISecurityGroup | None = None
        self.endpoint_environment: dict[str, str] = {}
        if settings.interface_endpoints:
            self.endpoints_security_group = self._add_endpoints(region)

    def _import(self, settings: NetworkSettings) -> tuple[ec2.IVpc, list[ec2.ISubnet]]:
        subnets = [
            ec2.Subnet.from_subnet_attributes(
                self,
                f"Subnet{index + 1}",
                subnet_id=subnet.subnet_id,
                availability_zone=subnet.availability_zone,
                route_table_id=subnet.route_table_id,
            )
            for index, subnet in enumerate(settings.subnets)
        ]
        vpc = ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id=settings.vpc_id,
            vpc_cidr_block=settings.vpc_cidr,
            availability_zones=[subnet.availability_zone for subnet in settings.subnets],
            private_subnet_ids=[subnet.subnet_id for subnet in settings.subnets],
            private_subnet_route_table_ids=[subnet.route_table_id for subnet in settings.subnets],
        )
        return vpc, subnets

    def _create(
        self,
        settings: NetworkSettings,
        log_groups: EncryptedLogGroups,
    ) -> tuple[ec2.IVpc, list[ec2.ISubnet]]:
        private_type = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS
            if settings.nat_gateways
            else ec2.SubnetType.PRIVATE_ISOLATED
        )
        subnet_configuration = [
            ec2.SubnetConfiguration(name="Private", subnet_type=private_type, cidr_mask=24)
        ]
        if settings.nat_gateways:
            subnet_configuration.insert(
                0,
                ec2.SubnetConfiguration(
                    name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26
                ),
            )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(settings.vpc_cidr or DEFAULT_VPC_CIDR),
            availability_zones=list(settings.availability_zones),
            nat_gateways=settings.nat_gateways,
            subnet_configuration=subnet_configuration,
            # Nothing here uses the default security group; restricting it would add a
            # custom-resource Lambda to every stack for no gain.
            restrict_default_security_group=False,
        )
        for subnet in vpc.isolated_subnets + vpc.private_subnets + vpc.public_subnets:
            # The two AZs are pinned in config on purpose (no lookups at synth; brokers must
            # stay in the same zones), which is what cfn-lint W3010 warns about.
            subnet.node.default_child.add_metadata(
                "cfn-lint", {"config": {"ignore_checks": ["W3010"]}}
            )
        # Rejected traffic only: enough to diagnose security-group mistakes at low cost.
        flow_logs = log_groups.create(self, "FlowLogs")
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        return vpc, list(vpc.select_subnets(subnet_type=private_type).subnets)

    def _add_endpoints(self, region: str) -> ec2.ISecurityGroup:
        security_group = ec2.SecurityGroup(
            self,
            "EndpointsSecurityGroup",
            vpc=self.vpc,
            description="Interface endpoints (Secrets Manager, SQS, MSK API); 443 from this app",
            allow_all_outbound=False,
            disable_inline_rules=True,
        )
        # endpoint id: (service, botocore's endpoint variable for it)
        services = {
            "SecretsManagerEndpoint": (
                ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
                "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            ),
            "SqsEndpoint": (ec2.InterfaceVpcEndpointAwsService.SQS, "AWS_ENDPOINT_URL_SQS"),
            "KafkaApiEndpoint": (
                ec2.InterfaceVpcEndpointService(f"aws.api.{region}.kafka-api", 443),
                "AWS_ENDPOINT_URL_KAFKA",
            ),
        }
        private_dns = self.settings.private_dns
        for endpoint_id, (service, variable) in services.items():
            endpoint = ec2.InterfaceVpcEndpoint(
                self,
                endpoint_id,
                vpc=self.vpc,
                service=service,
                subnets=self.broker_subnets,
                security_groups=[security_group],
                private_dns_enabled=private_dns,
                open=False,
            )
            if not private_dns:
                # DnsEntries are "<hosted zone id>:<name>"; the first is the regional name.
                regional_name = Fn.select(
                    1, Fn.split(":", Fn.select(0, endpoint.vpc_endpoint_dns_entries))
                )
                self.endpoint_environment[variable] = Fn.join("", ["https://", regional_name])
        return security_group
