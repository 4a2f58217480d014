"""`DocumentExceptions-CI-<account>`: what GitHub Actions needs in one account (see github_oidc.py).

Off unless `ci.enabled` is true in cdk.json; deployed once per account with an administrator's
credentials (`make deploy-ci ENV=...`), before the workflows can diff or deploy.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from stacks.config import CiAccount
from stacks.github_oidc import GitHubOidcAccess


class CiAccessStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, ci: CiAccount, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        self.access = GitHubOidcAccess(self, "GitHubOidc", ci=ci)
        for environment, role in self.access.diff_roles.items():
            variable = f"AWS_DIFF_ROLE_ARN_{environment.upper().replace('-', '_')}"
            cdk.CfnOutput(
                self,
                f"DiffRoleArn{environment.title()}",
                value=role.role_arn,
                description=f"repository variable {variable}",
            )
        for environment, role in self.access.deploy_roles.items():
            cdk.CfnOutput(
                self,
                f"DeployRoleArn{environment.title()}",
                value=role.role_arn,
                description=(
                    f"variable AWS_DEPLOY_ROLE_ARN of the GitHub environment '{environment}'"
                ),
            )
