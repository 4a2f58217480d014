"""What a client construct needs to reach the cluster: the platform-client seam."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IDependable

from stacks.config import SCRAM_PORT


@dataclass(frozen=True)
class KafkaClientAccess:
    """Handed by the cluster construct to every construct whose code talks to the brokers.

    `dependencies` are the resources a client must be created after (and deleted before):
    the cluster, the SCRAM secret association and the deploy-time broker lookup.
    """

    cluster_arn: str
    cluster_security_group: ec2.ISecurityGroup
    secret: secretsmanager.ISecret
    bootstrap_brokers: str
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    endpoints_security_group: ec2.ISecurityGroup | None
    dependencies: tuple[IDependable, ...] = ()
    # AWS_ENDPOINT_URL_<SERVICE> variables for functions in the VPC when the interface
    # endpoints do not own the services' public names (see Network).
    endpoint_environment: Mapping[str, str] = field(default_factory=dict)

    def allow_client(
        self, scope: Construct, id: str, client_security_group: ec2.ISecurityGroup
    ) -> ec2.CfnSecurityGroupIngress:
        """Open 9096 on the cluster SG to one client SG, as its own rule resource.

        A separate ingress resource (not the cluster's SG list) so adding clients never
        replaces the cluster.
        """
        client_security_group.connections.allow_to(
            ec2.Peer.security_group_id(self.cluster_security_group.security_group_id),
            ec2.Port.tcp(SCRAM_PORT),
            "SASL/SCRAM to the MSK brokers",
        )
        return ec2.CfnSecurityGroupIngress(
            scope,
            id,
            group_id=self.cluster_security_group.security_group_id,
            ip_protocol="tcp",
            from_port=SCRAM_PORT,
            to_port=SCRAM_PORT,
            source_security_group_id=client_security_group.security_group_id,
            description="SASL/SCRAM from a client of this app",
        )

    def allow_endpoints(self, client_security_group: ec2.ISecurityGroup) -> None:
        """Let a client reach the interface endpoints (Secrets Manager, Kafka API) on 443."""
        if self.endpoints_security_group is None:
            client_security_group.connections.allow_to(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "AWS APIs through NAT"
            )
            return
        client_security_group.connections.allow_to(
            self.endpoints_security_group, ec2.Port.tcp(443), "AWS APIs through interface endpoints"
        )

    def grant_connect(self, grantee: iam.IGrantable) -> None:
        """Read the SCRAM secret (and decrypt it) and look up this cluster's brokers."""
        self.secret.grant_read(grantee)
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "kafka:GetBootstrapBrokers",
                "kafka:DescribeCluster",
                "kafka:DescribeClusterV2",
            ],
            resource_arns=[self.cluster_arn],
        )
