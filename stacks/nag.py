"""cdk-nag wiring (written for the cdk-nag 2.x API) and narrow, reasoned suppressions.

Every suppression names one rule, gives its reason and, where the rule reports a finding
per policy entry, lists exactly which entries (`applies_to`) are accepted.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aspects
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct


def add_checks(scope: IConstruct) -> None:
    """Run the AwsSolutions pack over everything under `scope` at synth."""
    Aspects.of(scope).add(AwsSolutionsChecks(verbose=True))


def suppress(
    construct: IConstruct,
    rule: str,
    reason: str,
    *,
    applies_to: Sequence[str] = (),
    apply_to_children: bool = False,
) -> None:
    """Accept one rule's finding on one construct (and optionally its children), with a reason."""
    NagSuppressions.add_resource_suppressions(
        construct,
        [_suppression(rule, reason, applies_to)],
        apply_to_children=apply_to_children,
    )


def suppress_function_versions(construct: IConstruct, reason: str) -> None:
    """Accept IAM5 for `lambda:InvokeFunction` on functions' versions and aliases
    (`<fn>.Arn:*`), as the CDK Provider framework grants it, under `construct`."""
    NagSuppressions.add_resource_suppressions(
        construct,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=reason,
                applies_to=[RegexAppliesTo(regex=r"/^Resource::<[A-Za-z0-9]+\.Arn>:\*$/")],
            )
        ],
        apply_to_children=True,
    )


def _suppression(rule: str, reason: str, applies_to: Sequence[str]) -> NagPackSuppression:
    if not rule.startswith("AwsSolutions-") or len(reason) < 10:
        raise ValueError(f"a suppression needs an AwsSolutions rule and a reason: {rule!r}")
    if applies_to:
        return NagPackSuppression(id=rule, reason=reason, applies_to=list(applies_to))
    return NagPackSuppression(id=rule, reason=reason)
