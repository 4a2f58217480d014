"""tools/config_reference.py: README.md's cdk.json key table is the one stacks/config.py gives."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from stacks import config
from tools import config_reference


def test_the_readme_table_is_the_generated_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert config_reference.main(["--check"]) == 0, capsys.readouterr().out


def test_every_key_of_an_environment_is_in_the_table_with_a_sentence() -> None:
    rows = list(config_reference.rows(config.EnvironmentConfig))
    keys = {key.strip("`") for key, *_ in rows}
    for cls, prefix in (
        (config.EnvironmentConfig, ""),
        (config.TopicSettings, "topic."),
        (config.NetworkSettings, "network."),
        (config.SubnetRef, "network.subnets[]."),
        (config.ClientAccess, "client_access."),
        (config.ProducerFunctionSettings, "producer."),
        (config.MonitoringSettings, "monitoring."),
    ):
        for field in dataclasses.fields(cls):
            if prefix or field.name != "name":
                assert prefix + field.name in keys
    assert all(what for *_, what in rows), "a field of stacks/config.py has no docstring"
    assert "name" not in keys


def test_a_changed_field_makes_the_table_stale_and_write_fixes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(config_reference.README.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(config_reference, "README", readme)
    real_docs = config_reference.attribute_docs

    def changed_docs(cls: type) -> dict[str, str]:
        docs = real_docs(cls)
        if cls is config.TopicSettings:
            docs["partitions"] = "Partitions, now explained differently."
        return docs

    monkeypatch.setattr(config_reference, "attribute_docs", changed_docs)
    assert config_reference.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert config_reference.main(["--write"]) == 0
    assert "Partitions, now explained differently." in readme.read_text(encoding="utf-8")
    assert config_reference.main(["--check"]) == 0


def test_types_defaults_and_allowed_values_are_rendered() -> None:
    rows = {key.strip("`"): (kind, default) for key, kind, default, _ in
            config_reference.rows(config.EnvironmentConfig)}  # fmt: skip
    assert rows["account"] == ("string", "required")
    assert rows["removal"] == ('`"retain"` or `"destroy"`', '`"retain"`')
    assert rows["topic.partitions"] == ("integer", "`3`")
    assert rows["network.vpc_id"] == ("string (optional)", "`null`")
    assert rows["client_access.cidrs"] == ("list of strings", "none")
    assert rows["network.subnets"] == ("list of objects", "none")
