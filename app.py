#!/usr/bin/env python3
"""The CDK app: one `DocumentExceptions-<env>` stack per environment defined in cdk.json,
and, when `ci.enabled` is true, one `DocumentExceptions-CI-<account>` stack per account.

The only place that reads context: `-c env=dev` selects one environment (and the CI stack of
its account); without it (or with an empty value) every environment is synthesized.
"""

from __future__ import annotations

import sys

import aws_cdk as cdk

from stacks import nag
from stacks.ci_stack import CiAccessStack
from stacks.config import (
    BOOTSTRAP_QUALIFIER_CONTEXT,
    ConfigError,
    load_bootstrap_qualifier,
    load_ci,
    load_environments,
    select_environments,
)
from stacks.document_exceptions_stack import DocumentExceptionsStack

ENVIRONMENTS_CONTEXT = "environments"
SELECTED_ENVIRONMENT_CONTEXT = "env"
CI_CONTEXT = "ci"


def build(app: cdk.App) -> dict[str, DocumentExceptionsStack]:
    """Add the selected environments' stacks, their accounts' CI stacks and cdk-nag to `app`."""
    configs = load_environments(app.node.try_get_context(ENVIRONMENTS_CONTEXT))
    ci_accounts = load_ci(
        app.node.try_get_context(CI_CONTEXT),
        configs,
        load_bootstrap_qualifier(app.node.try_get_context(BOOTSTRAP_QUALIFIER_CONTEXT)),
    )
    selected = app.node.try_get_context(SELECTED_ENVIRONMENT_CONTEXT) or None
    stacks: dict[str, DocumentExceptionsStack] = {}
    selected_configs = select_environments(configs, selected)
    for config in selected_configs:
        stacks[config.name] = DocumentExceptionsStack(
            app,
            config.stack_name,
            config=config,
            env=cdk.Environment(account=config.account, region=config.region),
            termination_protection=config.termination_protection,
            description=f"document-exceptions: MSK platform ({config.name})",
        )
    selected_accounts = {config.account for config in selected_configs}
    for ci in ci_accounts:
        if ci.account in selected_accounts:
            CiAccessStack(
                app,
                ci.stack_name,
                ci=ci,
                env=cdk.Environment(account=ci.account, region=ci.region),
                description=f"document-exceptions: GitHub Actions access ({ci.repository})",
            )
    nag.add_checks(app)
    return stacks


def main() -> None:
    # No construct creation stack traces: they point into the jsii runtime, not into this
    # code, and `cdk synth` printed their first frame above each warning.
    app = cdk.App(stack_traces=False)
    try:
        build(app)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        sys.exit(1)
    app.synth()


if __name__ == "__main__":
    main()
