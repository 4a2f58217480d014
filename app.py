#!/usr/bin/env python3
"""The CDK app: one `DocumentExceptions-<env>` stack per environment defined in cdk.json.

The only place that reads context: `-c env=dev` selects one environment; without it (or
with an empty value) every environment is synthesized.
"""

from __future__ import annotations

import sys

import aws_cdk as cdk

from stacks import nag
from stacks.config import ConfigError, load_environments, select_environments
from stacks.document_exceptions_stack import DocumentExceptionsStack

ENVIRONMENTS_CONTEXT = "environments"
SELECTED_ENVIRONMENT_CONTEXT = "env"


def build(app: cdk.App) -> dict[str, DocumentExceptionsStack]:
    """Add the selected environments' stacks and the cdk-nag checks to `app`."""
    configs = load_environments(app.node.try_get_context(ENVIRONMENTS_CONTEXT))
    selected = app.node.try_get_context(SELECTED_ENVIRONMENT_CONTEXT) or None
    stacks: dict[str, DocumentExceptionsStack] = {}
    for config in select_environments(configs, selected):
        if config.kafka_version_warning:
            print(f"WARNING: {config.kafka_version_warning}", file=sys.stderr)
        stacks[config.name] = DocumentExceptionsStack(
            app,
            config.stack_name,
            config=config,
            env=cdk.Environment(account=config.account, region=config.region),
            termination_protection=config.termination_protection,
            description=f"document-exceptions: MSK platform ({config.name})",
        )
    nag.add_checks(app)
    return stacks


def main() -> None:
    app = cdk.App()
    try:
        build(app)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        sys.exit(1)
    app.synth()


if __name__ == "__main__":
    main()
