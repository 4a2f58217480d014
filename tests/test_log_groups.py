"""stacks/log_groups.py: every log group encrypted with the environment's logs key."""

from __future__ import annotations

import pytest

from tests.stack_fixtures import ENVIRONMENTS

pytestmark = pytest.mark.parametrize("env", ENVIRONMENTS)

LOGS_KEY = "LogsKeyB5D1D597"


def resources_of(synthesized, env: str, resource_type: str) -> dict[str, dict]:
    resources = synthesized.template_json[env]["Resources"]
    return {name: body for name, body in resources.items() if body["Type"] == resource_type}


def logs_statement(synthesized, env: str) -> dict:
    key = synthesized.template_json[env]["Resources"][LOGS_KEY]
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    (statement,) = [s for s in statements if s.get("Sid") == "CloudWatchLogsOfThisAccountAndRegion"]
    return statement


def test_every_log_group_is_encrypted_with_the_logs_key(env, synthesized):
    log_groups = resources_of(synthesized, env, "AWS::Logs::LogGroup")
    assert len(log_groups) >= 5  # brokers, broker lookup, topic bootstrap (2), producer
    assert {name: body["Properties"].get("KmsKeyId") for name, body in log_groups.items()} == {
        name: {"Fn::GetAtt": [LOGS_KEY, "Arn"]} for name in log_groups
    }


def test_logs_key_rotates(env, synthesized):
    key = synthesized.template_json[env]["Resources"][LOGS_KEY]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True


def test_only_cloudwatch_logs_of_the_region_may_use_the_key(env, synthesized, environment_configs):
    config = environment_configs[env]
    statement = logs_statement(synthesized, env)
    assert statement["Principal"] == {"Service": f"logs.{config.region}.amazonaws.com"}
    assert statement["Effect"] == "Allow"
    assert "kms:*" not in statement["Action"]


def test_the_key_serves_this_stacks_log_groups_only(env, synthesized, environment_configs):
    config = environment_configs[env]
    condition = logs_statement(synthesized, env)["Condition"]
    arn = condition["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert arn == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":logs:{config.region}:{config.account}:log-group:/{config.stack_name}/*",
            ],
        ]
    }


def test_logs_key_follows_the_environment_removal_policy(env, synthesized, environment_configs):
    key = synthesized.template_json[env]["Resources"][LOGS_KEY]
    expected = "Retain" if environment_configs[env].retain else "Delete"
    assert key["DeletionPolicy"] == expected
    assert key["UpdateReplacePolicy"] == expected


def test_every_log_group_is_named_under_the_stack_prefix(env, synthesized, environment_configs):
    """The key policy's condition covers exactly the groups named /<stack>/..."""
    prefix = f"/{environment_configs[env].stack_name}/"
    names = {
        name: body["Properties"].get("LogGroupName")
        for name, body in resources_of(synthesized, env, "AWS::Logs::LogGroup").items()
    }
    assert all(isinstance(n, str) and n.startswith(prefix) for n in names.values()), names
    assert len(set(names.values())) == len(names)


def test_functions_write_only_their_own_log_group(env, synthesized):
    """No AWS managed execution policy; each role may write streams of its function's group."""
    resources = synthesized.template_json[env]["Resources"]
    functions = resources_of(synthesized, env, "AWS::Lambda::Function")
    # producer, topic on-event + its framework, broker lookup, ACL enforcement on-event and
    # is-complete + the framework's onEvent, isComplete and onTimeout
    assert len(functions) == 9
    for function in functions.values():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        assert "ManagedPolicyArns" not in resources[role]["Properties"]
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        log_statements = [
            statement
            for body in resources_of(synthesized, env, "AWS::IAM::Policy").values()
            if {"Ref": role} in body["Properties"]["Roles"]
            for statement in body["Properties"]["PolicyDocument"]["Statement"]
            if any(a.startswith("logs:") for a in _list(statement["Action"]))
        ]
        assert log_statements == [
            {
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [group, "Arn"]},
            }
        ]


def _list(value):
    return value if isinstance(value, list) else [value]
