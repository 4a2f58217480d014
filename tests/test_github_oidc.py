"""stacks/github_oidc.py and stacks/ci_stack.py: the CI access stacks, synthesized by app.py from a
test `ci` config (cdk.json ships with CI off), checked on the synthesized templates."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks import nag
from stacks.ci_stack import CiAccessStack
from stacks.config import ConfigError, load_ci
from tests.client_access_stack import cfn_lint_findings, nag_findings
from tests.stack_fixtures import synthesize

REPOSITORY = "acme/document-exceptions"
EXISTING_PROVIDER = "arn:aws:iam::222222222222:oidc-provider/token.actions.githubusercontent.com"
CI = {
    "enabled": True,
    "repository": REPOSITORY,
    "existing_oidc_providers": {"222222222222": EXISTING_PROVIDER},
}
NON_PROD = "DocumentExceptions-CI-111111111111"
PROD = "DocumentExceptions-CI-222222222222"
OIDC = "token.actions.githubusercontent.com"
PARTITION = {json.dumps({"Ref": "AWS::Partition"}): "<partition>"}


def build_ci_stacks(configs, qualifier="hnb659fds", **context):
    """The CI access stacks alone, as app.py adds them (with cdk-nag), for a test `ci` config."""
    app = cdk.App(context=context)
    stacks = {
        account.stack_name: CiAccessStack(
            app,
            account.stack_name,
            ci=account,
            env=cdk.Environment(account=account.account, region=account.region),
        )
        for account in load_ci(CI, configs, qualifier)
    }
    nag.add_checks(app)
    app.synth()
    return stacks


@pytest.fixture(scope="module")
def ci_app(environment_configs):
    stacks = build_ci_stacks(environment_configs)
    templates = {name: Template.from_stack(stack) for name, stack in stacks.items()}
    return stacks, templates


def roles(template: Template) -> dict[str, dict]:
    """Role name -> properties."""
    return {
        role["Properties"]["RoleName"]: role["Properties"]
        for role in template.find_resources("AWS::IAM::Role").values()
    }


def trust(role: dict) -> dict:
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    return statement


def allowed_role_arns(template: Template, role_logical_id_prefix: str) -> list[str]:
    """The rendered `sts:AssumeRole` resources of the policy attached to one role."""
    policies = [
        policy["Properties"]
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if policy["Properties"]["Roles"][0]["Ref"].startswith(role_logical_id_prefix)
    ]
    (policy,) = policies
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Effect"] == "Allow"
    resources = statement["Resource"]
    return [
        "".join(
            part if isinstance(part, str) else PARTITION[json.dumps(part)]
            for part in r["Fn::Join"][1]
        )
        for r in (resources if isinstance(resources, list) else [resources])
    ]


def test_one_stack_per_account_with_the_roles_of_its_environments(ci_app):
    _, templates = ci_app
    assert sorted(roles(templates[NON_PROD])) == [
        "document-exceptions-ci-deploy-dev",
        "document-exceptions-ci-deploy-staging",
        "document-exceptions-ci-diff-dev",
        "document-exceptions-ci-diff-staging",
    ]
    assert sorted(roles(templates[PROD])) == [
        "document-exceptions-ci-deploy-prod",
        "document-exceptions-ci-diff-prod",
    ]


def test_the_provider_is_created_or_imported(ci_app):
    _, templates = ci_app
    templates[NON_PROD].resource_count_is("AWS::IAM::OIDCProvider", 1)
    templates[NON_PROD].has_resource_properties(
        "AWS::IAM::OIDCProvider",
        {"Url": f"https://{OIDC}", "ClientIdList": ["sts.amazonaws.com"]},
    )
    templates[PROD].resource_count_is("AWS::IAM::OIDCProvider", 0)
    for role in roles(templates[PROD]).values():
        assert trust(role)["Principal"] == {"Federated": EXISTING_PROVIDER}


def test_deploy_role_trusts_only_this_repository_in_its_github_environment(ci_app):
    _, templates = ci_app
    for stack, env in ((NON_PROD, "dev"), (NON_PROD, "staging"), (PROD, "prod")):
        statement = trust(roles(templates[stack])[f"document-exceptions-ci-deploy-{env}"])
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Effect"] == "Allow"
        assert statement["Condition"] == {
            "StringEquals": {
                f"{OIDC}:aud": "sts.amazonaws.com",
                f"{OIDC}:sub": [f"repo:{REPOSITORY}:environment:{env}"],
            }
        }


def test_diff_role_trusts_only_pull_requests_of_this_repository(ci_app):
    _, templates = ci_app
    statement = trust(roles(templates[PROD])["document-exceptions-ci-diff-prod"])
    assert statement["Condition"] == {
        "StringEquals": {
            f"{OIDC}:aud": "sts.amazonaws.com",
            f"{OIDC}:sub": [f"repo:{REPOSITORY}:pull_request"],
        }
    }


def test_no_trust_condition_uses_wildcards(ci_app):
    _, templates = ci_app
    for template in templates.values():
        for role in roles(template).values():
            condition = trust(role)["Condition"]
            assert list(condition) == ["StringEquals"]
            assert "*" not in str(condition)


def test_roles_may_assume_only_their_bootstrap_roles(ci_app):
    _, templates = ci_app
    assert allowed_role_arns(templates[PROD], "GitHubOidcDeployprod") == [
        f"arn:<partition>:iam::222222222222:role/cdk-hnb659fds-{kind}-role-222222222222-eu-west-1"
        for kind in ("deploy", "file-publishing", "lookup")
    ]
    assert allowed_role_arns(templates[PROD], "GitHubOidcDiffprod") == [
        "arn:<partition>:iam::222222222222:role/cdk-hnb659fds-lookup-role-222222222222-eu-west-1"
    ]
    for template in templates.values():
        assert not template.find_resources("AWS::IAM::ManagedPolicy")
        for role in roles(template).values():
            assert "ManagedPolicyArns" not in role
            assert "Policies" not in role
            assert role["MaxSessionDuration"] == 3600


def test_app_adds_the_ci_stack_of_the_selected_account_with_cdk_contexts_qualifier():
    built = synthesize(ci=CI, env="prod", **{"@aws-cdk/core:bootstrapQualifier": "acme1"})
    names = {child.node.id for child in built.app.node.children}
    assert {PROD, "DocumentExceptions-prod"} <= names
    assert NON_PROD not in names
    template = Template.from_stack(built.app.node.find_child(PROD))
    assert allowed_role_arns(template, "GitHubOidcDiffprod") == [
        "arn:<partition>:iam::222222222222:role/cdk-acme1-lookup-role-222222222222-eu-west-1"
    ]
    # The stacks' own synthesizer uses the same bootstrap.
    for stack in (PROD, "DocumentExceptions-prod"):
        parameters = Template.from_stack(built.app.node.find_child(stack)).to_json()["Parameters"]
        assert parameters["BootstrapVersion"]["Default"] == "/cdk-bootstrap/acme1/version"


def test_ci_is_off_in_the_committed_cdk_json(synthesized):
    names = {child.node.id for child in synthesized.app.node.children}
    assert not any(name.startswith("DocumentExceptions-CI-") for name in names)


def test_cdk_nag_and_cfn_lint_are_clean(ci_app):
    stacks, templates = ci_app
    for name in (NON_PROD, PROD):
        assert nag_findings(stacks[name]) == []
        assert cfn_lint_findings(templates[name]) == []


def test_outputs_name_the_github_variables(ci_app):
    _, templates = ci_app
    outputs = templates[NON_PROD].to_json()["Outputs"]
    assert outputs["DiffRoleArnDev"]["Description"] == "repository variable AWS_DIFF_ROLE_ARN_DEV"
    assert outputs["DeployRoleArnStaging"]["Description"] == (
        "variable AWS_DEPLOY_ROLE_ARN of the GitHub environment 'staging'"
    )


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"enabled": "yes"}, "ci.enabled: expected true or false, got the string 'yes'"),
        ({"enabled": True}, "ci.repository: required when ci.enabled is true (owner/name)"),
        ({"repository": "acme"}, "ci.repository: 'acme' is not a GitHub repository (owner/name)"),
        ({"environments": ["qa"]}, "ci.environments[0]: unknown environment 'qa'"),
        ({"environments": ["dev", "dev"]}, "ci.environments: an environment listed twice"),
        (
            {"existing_oidc_providers": {"222222222222": "arn:aws:iam::222222222222:role/x"}},
            "ci.existing_oidc_providers.222222222222: 'arn:aws:iam::222222222222:role/x' is not "
            "the ARN of a token.actions.githubusercontent.com OIDC provider",
        ),
        (
            {"existing_oidc_providers": {"111111111111": EXISTING_PROVIDER}},
            "ci.existing_oidc_providers.111111111111: the ARN is in account 222222222222",
        ),
        ({"branch": "main"}, "ci.branch: unknown key"),
    ],
)
def test_invalid_ci_config_names_the_key(environment_configs, raw, error):
    with pytest.raises(ConfigError) as caught:
        load_ci(raw, environment_configs)
    assert str(caught.value).startswith(error)


def test_ci_limited_to_some_environments(environment_configs):
    (account,) = load_ci({**CI, "environments": ["prod"]}, environment_configs)
    assert account.account == "222222222222"
    assert [env.name for env in account.environments] == ["prod"]
    assert account.oidc_provider_arn == EXISTING_PROVIDER


def test_bad_bootstrap_qualifier_fails_synth():
    with pytest.raises(ConfigError, match="@aws-cdk/core:bootstrapQualifier: 'has space'"):
        synthesize(ci=CI, **{"@aws-cdk/core:bootstrapQualifier": "has space"})
