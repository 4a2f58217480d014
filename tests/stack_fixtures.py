"""Session-scoped synth fixtures (a pytest plugin): the CDK app is synthesized once per session.

Register in tests/conftest.py: `pytest_plugins = [..., "tests.stack_fixtures"]`.

- `synthesized`: every environment of cdk.json, built by `app.build` exactly as `cdk synth`
  does (same context, same cdk.context.json), with Lambda bundling skipped.
- `stack_templates`: environment name -> `aws_cdk.assertions.Template`.
- `template_files`: environment name -> the template written as JSON in a temp folder.
- `cfn_lint_findings`: cfn-lint run once over all of them.
- `environment_configs`: environment name -> `EnvironmentConfig` (from cdk.json).
- `kafka3_variants`: the same environments moved to `KAFKA3_VERSION`, synthesized twice:
  "custom" (the topic stays the custom resource: an environment upgraded from 2.8.1) and
  "native" (`AWS::MSK::Topic`: a new environment on 3.x).
- `scram_only_synthesized`: the same environments with `"kafka_auth": "scram"` (SASL/SCRAM
  only, as before IAM access control), to compare with the default IAM templates.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from stacks.assets import LambdaAsset
from stacks.config import EnvironmentConfig, load_environments

REPO_ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS = ("dev", "staging", "prod")
SKIP_BUNDLING = {"aws:cdk:bundling-stacks": []}
KAFKA3_VERSION = "3.8.x"
TOPIC_RESOURCES = ("custom", "native")
# Checks cfn-lint may skip, each with its reason.
CFN_LINT_IGNORED = {
    "W3005": "CDK adds DependsOn entries that a GetAtt already implies; harmless redundancy",
}


def asset_s3_key(asset: LambdaAsset) -> str:
    """The S3 key CDK gives a function running `asset` (with bundling skipped: the same key as
    a bundling synth, tests/test_assets.py checks)."""
    stack = cdk.Stack(cdk.App(context=SKIP_BUNDLING), "AssetKey")
    lambda_.Function(
        stack, "F", runtime=lambda_.Runtime.PYTHON_3_14, handler="handler.h", code=asset.code()
    )
    return function_s3_key(stack)


def function_s3_key(stack: cdk.Stack) -> str:
    """The S3 key of the code of the one Lambda function in `stack`."""
    template = stack.node.root.synth().get_stack_by_name(stack.stack_name).template
    (function,) = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    ]
    return function["Properties"]["Code"]["S3Key"]


def cdk_context(**extra: Any) -> dict[str, Any]:
    """The context `cdk synth` gives the app: cdk.json's, then cdk.context.json's, then `extra`."""
    context = dict(json.loads((REPO_ROOT / "cdk.json").read_text())["context"])
    context.update(json.loads((REPO_ROOT / "cdk.context.json").read_text()))
    context.update(extra)
    return context


@dataclass(frozen=True)
class Synthesized:
    """One synthesized app: stacks, assembly templates and assertion `Template`s per environment."""

    app: cdk.App
    stacks: Mapping[str, Any]
    templates: Mapping[str, Template]
    template_json: Mapping[str, dict[str, Any]]


def synthesize(**extra_context: Any) -> Synthesized:
    """Build and synthesize the app like `cdk synth` does (bundling skipped unless overridden)."""
    import app as app_module  # noqa: PLC0415 (the repository's app.py, imported when first used)

    app = cdk.App(context=cdk_context(**{**SKIP_BUNDLING, **extra_context}))
    stacks = app_module.build(app)
    assembly = app.synth()
    template_json = {
        name: assembly.get_stack_by_name(stack.stack_name).template
        for name, stack in stacks.items()
    }
    return Synthesized(
        app=app,
        stacks=stacks,
        templates={name: Template.from_json(body) for name, body in template_json.items()},
        template_json=template_json,
    )


def kafka3_environments(topic_resource: str) -> dict[str, Any]:
    """cdk.json's environments on `KAFKA3_VERSION` with the topic made by `topic_resource`."""
    environments = copy.deepcopy(cdk_context()["environments"])
    for raw in environments.values():
        raw["kafka_version"] = KAFKA3_VERSION
        raw.setdefault("topic", {})["resource"] = topic_resource
    return environments


@pytest.fixture(scope="session")
def kafka3_variants() -> dict[str, Synthesized]:
    return {
        resource: synthesize(environments=kafka3_environments(resource))
        for resource in TOPIC_RESOURCES
    }


@pytest.fixture(scope="session")
def environment_configs() -> dict[str, EnvironmentConfig]:
    return load_environments(cdk_context()["environments"])


@pytest.fixture(scope="session")
def synthesized() -> Synthesized:
    return synthesize()


def scram_only_environments() -> dict[str, Any]:
    """cdk.json's environments with every one set to SASL/SCRAM only."""
    environments = cdk_context()["environments"]
    return {name: {**raw, "kafka_auth": "scram"} for name, raw in environments.items()}


@pytest.fixture(scope="session")
def scram_only_synthesized() -> Synthesized:
    return synthesize(environments=scram_only_environments())


@pytest.fixture(scope="session")
def stack_templates(synthesized: Synthesized) -> Mapping[str, Template]:
    return synthesized.templates


@pytest.fixture(scope="session")
def template_files(
    synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("templates")
    files = {}
    for name, body in synthesized.template_json.items():
        files[name] = folder / f"{synthesized.stacks[name].stack_name}.template.json"
        files[name].write_text(json.dumps(body, indent=1))
    return files


@pytest.fixture(scope="session")
def cfn_lint_findings(
    synthesized: Synthesized, template_files: Mapping[str, Path]
) -> dict[str, list[str]]:
    """cfn-lint over every synthesized template (one run): environment -> findings as text."""
    return lint_templates(synthesized, template_files)


def lint_templates(synthesized: Synthesized, files: Mapping[str, Path]) -> dict[str, list[str]]:
    """cfn-lint over template files (environment -> path): environment -> findings as text."""
    from cfnlint.api import lint  # noqa: PLC0415 (loaded only by sessions that lint)
    from cfnlint.config import ManualArgs  # noqa: PLC0415

    findings = {}
    for name, path in files.items():
        region = synthesized.stacks[name].region
        matches = lint(
            path.read_text(),
            config=ManualArgs(ignore_checks=list(CFN_LINT_IGNORED), regions=[region]),
        )
        findings[name] = [f"{match.rule.id} {match.message} ({path.name})" for match in matches]
    return findings
