"""A small IAM policy evaluator for the rehearsal: identity policies, resource policies and
KMS key policies of one account, as the synthesized template wires them.

Libraries looked at first (PyPI, 2026-12): moto's `moto.iam.access_control` (an Allow whose
condition does not match returns DENIED instead of not applying, `NotResource` and principals
are not evaluated), principalmapper 1.1.5 (last release 2022-01, models a whole account
graph), policyuniverse and parliament (parsing, expansion and linting, no evaluation). None
evaluates conditions the way this needs, so this module does, within a deliberately small
scope, and tests/test_rehearse.py checks it on known allow and deny cases.

Semantics (AWS "policy evaluation logic", same account):
- an explicit Deny that applies wins; otherwise an Allow is needed;
- for a resource with a resource policy (SQS queue policy), an Allow in either the identity
  policies or the resource policy is enough;
- for a KMS key, the key policy decides: it must allow the principal itself, or allow the
  account root (which delegates to IAM) while the identity policies allow too;
- `Action`/`NotAction` match case-insensitively with `*` and `?`, `Resource`/`NotResource`
  case-sensitively;
- a condition whose key the request does not carry, or whose operator is not implemented,
  is not evaluated: it is reported in `Decision.unevaluated`, and the statement counts as
  not applying (an Allow is not granted on it; a Deny is reported, never silently skipped).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Statement = Mapping[str, Any]
STRING_OPERATORS = {
    "StringEquals": (False, False),
    "StringNotEquals": (False, True),
    "StringEqualsIgnoreCase": (False, False),
    "StringLike": (True, False),
    "StringNotLike": (True, True),
    "ArnEquals": (False, False),
    "ArnLike": (True, False),
    "ArnNotEquals": (False, True),
    "ArnNotLike": (True, True),
    "Bool": (False, False),
}


@dataclass(frozen=True)
class Request:
    """One authorization question: `principal` (an ARN) does `action` on `resource`."""

    principal: str
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return self.principal.split(":")[4]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    unevaluated: tuple[str, ...] = ()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, ignore_case: bool) -> bool:
    regex = fnmatch.translate(pattern.replace("[", "[[]"))
    return re.match(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _matches_element(statement: Statement, name: str, value: str, *, ignore_case: bool) -> bool:
    positive, negative = statement.get(name), statement.get(f"Not{name}")
    if positive is not None:
        return any(_glob(p, value, ignore_case=ignore_case) for p in _as_list(positive))
    if negative is not None:
        return not any(_glob(p, value, ignore_case=ignore_case) for p in _as_list(negative))
    return name == "Resource"  # resource policies may leave Resource out


def _principal_matches(statement: Statement, principal: str) -> bool:
    """For resource policies: does the statement's Principal cover `principal`?"""
    if "Principal" not in statement:
        return True
    given = statement["Principal"]
    if given == "*":
        return True
    candidates = _as_list(given.get("AWS")) if isinstance(given, dict) else []
    account = principal.split(":")[4]
    return any(
        candidate in ("*", principal, account, f"arn:aws:iam::{account}:root")
        for candidate in candidates
    )


def _condition_result(
    condition: Mapping[str, Any], context: Mapping[str, str]
) -> tuple[bool, list[str]]:
    """(all conditions hold, the ones that could not be evaluated)."""
    unevaluated: list[str] = []
    holds = True
    for raw_operator, tests in condition.items():
        operator = raw_operator.removesuffix("IfExists")
        if_exists = raw_operator.endswith("IfExists")
        if ":" in operator or operator not in STRING_OPERATORS:
            unevaluated.extend(f"{raw_operator} {key}" for key in tests)
            holds = False
            continue
        like, negated = STRING_OPERATORS[operator]
        for key, expected in tests.items():
            if key not in context:
                if if_exists:
                    continue
                unevaluated.append(f"{raw_operator} {key} (not in the request)")
                holds = False
                continue
            actual = context[key]
            ignore_case = operator in ("StringEqualsIgnoreCase", "Bool")
            if like:
                found = any(_glob(str(e), actual, ignore_case=False) for e in _as_list(expected))
            else:
                found = any(
                    (str(e).lower() == actual.lower()) if ignore_case else str(e) == actual
                    for e in _as_list(expected)
                )
            if found == negated:
                holds = False
    return holds, unevaluated


@dataclass
class _Verdict:
    allow: bool = False
    deny: bool = False
    unevaluated: list[str] = field(default_factory=list)


def _evaluate(
    statements: Iterable[Statement], request: Request, *, resource_policy: bool
) -> _Verdict:
    verdict = _Verdict()
    for statement in statements:
        if not _matches_element(statement, "Action", request.action, ignore_case=True):
            continue
        if not _matches_element(statement, "Resource", request.resource, ignore_case=False):
            continue
        if resource_policy and not _principal_matches(statement, request.principal):
            continue
        holds, unevaluated = _condition_result(statement.get("Condition", {}), request.context)
        sid = statement.get("Sid", "(no Sid)")
        verdict.unevaluated.extend(f"{sid}: {item}" for item in unevaluated)
        if not holds:
            continue
        if statement.get("Effect") == "Deny":
            verdict.deny = True
        elif statement.get("Effect") == "Allow":
            verdict.allow = True
    return verdict


def root_principal_statements(statements: Iterable[Statement], account: str) -> list[Statement]:
    """Key-policy statements whose principal is the account root (they delegate to IAM)."""
    root = f"arn:aws:iam::{account}:root"
    return [
        statement
        for statement in statements
        if isinstance(statement.get("Principal"), dict)
        and any(p in (root, account) for p in _as_list(statement["Principal"].get("AWS")))
    ]


def decide(  # noqa: PLR0911 - one answer per rule of the evaluation logic
    request: Request,
    identity: Sequence[Statement],
    *,
    resource_policy: Sequence[Statement] | None = None,
    key_policy: Sequence[Statement] | None = None,
) -> Decision:
    """Is `request` allowed? See the module docstring for the rules applied."""
    own = _evaluate(identity, request, resource_policy=False)
    unevaluated = list(own.unevaluated)
    if key_policy is not None:
        key = _evaluate(key_policy, request, resource_policy=True)
        unevaluated += key.unevaluated
        if own.deny or key.deny:
            return Decision(False, "explicitly denied", tuple(unevaluated))
        direct = _evaluate(
            [
                s
                for s in key_policy
                if s not in root_principal_statements(key_policy, request.account)
            ],
            request,
            resource_policy=True,
        )
        delegated = _evaluate(
            root_principal_statements(key_policy, request.account), request, resource_policy=True
        )
        if direct.allow:
            return Decision(True, "key policy names the role", tuple(unevaluated))
        if delegated.allow and own.allow:
            return Decision(
                True, "key policy delegates to IAM; role policy allows", tuple(unevaluated)
            )
        if delegated.allow:
            return Decision(
                False, "key policy delegates to IAM, role policy does not allow", tuple(unevaluated)
            )
        return Decision(False, "key policy does not allow", tuple(unevaluated))
    other = _evaluate(resource_policy or (), request, resource_policy=True)
    unevaluated += other.unevaluated
    if own.deny or other.deny:
        return Decision(False, "explicitly denied", tuple(unevaluated))
    if own.allow:
        return Decision(True, "role policy allows", tuple(unevaluated))
    if other.allow:
        return Decision(True, "resource policy allows", tuple(unevaluated))
    return Decision(False, "no statement allows", tuple(unevaluated))
