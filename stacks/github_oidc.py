"""GitHub Actions access to one AWS account: the OIDC provider and a diff and a deploy role per
environment, each trusted only for this repository and allowed only to assume the account's CDK
bootstrap roles (which CloudFormation then uses to deploy).

Trust (every role: `aud` = sts.amazonaws.com, web identity from the account's GitHub provider):
- diff role: `sub` = `repo:OWNER/NAME:pull_request` (a pull-request job of this repository;
  forks get no token); may assume the environment region's `cdk-QUALIFIER-lookup-role`
  (read-only: `cdk diff --method template`).
- deploy role: `sub` = `repo:OWNER/NAME:environment:ENV`, i.e. only a job that runs in the
  GitHub environment named after the cdk.json environment (its protection rules decide who
  and which branch: main, and required reviewers for prod); may assume the deploy,
  file-publishing and lookup bootstrap roles of its region.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import GITHUB_OIDC_HOST, CiAccount, EnvironmentConfig, bootstrap_role_name

AUDIENCE = "sts.amazonaws.com"
SESSION_DURATION = cdk.Duration.hours(1)
DIFF_BOOTSTRAP_ROLES = ("lookup",)
DEPLOY_BOOTSTRAP_ROLES = ("deploy", "file-publishing", "lookup")


def diff_subjects(repository: str) -> list[str]:
    return [f"repo:{repository}:pull_request"]


def deploy_subjects(repository: str, environment: str) -> list[str]:
    return [f"repo:{repository}:environment:{environment}"]


def diff_role_name(environment: str) -> str:
    return f"document-exceptions-ci-diff-{environment}"


def deploy_role_name(environment: str) -> str:
    return f"document-exceptions-ci-deploy-{environment}"


def bootstrap_role_arn(qualifier: str, kind: str, account: str, region: str) -> str:
    """The ARN `cdk bootstrap` gives one of its roles (`cdk-QUALIFIER-KIND-role-ACCOUNT-REGION`)."""
    name = bootstrap_role_name(qualifier, kind, account, region)
    return f"arn:{cdk.Aws.PARTITION}:iam::{account}:role/{name}"


class GitHubOidcAccess(Construct):
    """The GitHub OIDC provider (created, or imported by ARN) and the CI roles of one account."""

    def __init__(self, scope: Construct, construct_id: str, *, ci: CiAccount) -> None:
        super().__init__(scope, construct_id)
        self.ci = ci
        if ci.oidc_provider_arn is None:
            # The native resource (no custom-resource Lambda); IAM trusts GitHub's root CA.
            provider = iam.OidcProviderNative(
                self,
                "Provider",
                url=f"https://{GITHUB_OIDC_HOST}",
                client_ids=[AUDIENCE],
            )
            self.provider_arn = provider.oidc_provider_arn
        else:
            self.provider_arn = ci.oidc_provider_arn
        self.diff_roles: dict[str, iam.Role] = {}
        self.deploy_roles: dict[str, iam.Role] = {}
        for environment in ci.environments:
            self.diff_roles[environment.name] = self._role(
                f"Diff-{environment.name}",
                name=diff_role_name(environment.name),
                subjects=diff_subjects(ci.repository),
                environment=environment,
                bootstrap_roles=DIFF_BOOTSTRAP_ROLES,
                purpose="cdk diff from pull requests",
            )
            self.deploy_roles[environment.name] = self._role(
                f"Deploy-{environment.name}",
                name=deploy_role_name(environment.name),
                subjects=deploy_subjects(ci.repository, environment.name),
                environment=environment,
                bootstrap_roles=DEPLOY_BOOTSTRAP_ROLES,
                purpose=f"cdk deploy from the GitHub environment '{environment.name}'",
            )

    def _role(
        self,
        construct_id: str,
        *,
        name: str,
        subjects: Sequence[str],
        environment: EnvironmentConfig,
        bootstrap_roles: Sequence[str],
        purpose: str,
    ) -> iam.Role:
        principal = iam.WebIdentityPrincipal(
            self.provider_arn,
            conditions={
                "StringEquals": {
                    f"{GITHUB_OIDC_HOST}:aud": AUDIENCE,
                    f"{GITHUB_OIDC_HOST}:sub": list(subjects),
                }
            },
        )
        role = iam.Role(
            self,
            construct_id,
            role_name=name,
            assumed_by=principal,
            description=f"document-exceptions CI ({self.ci.repository}): {purpose}",
            max_session_duration=SESSION_DURATION,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeCdkBootstrapRoles",
                actions=["sts:AssumeRole"],
                resources=[
                    bootstrap_role_arn(
                        self.ci.bootstrap_qualifier, kind, self.ci.account, environment.region
                    )
                    for kind in bootstrap_roles
                ],
            )
        )
        return role
