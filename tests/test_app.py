"""app.py: environment selection, the Kafka-version warning line and configuration errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.stack_fixtures import REPO_ROOT, cdk_context, synthesize


def test_no_environment_selected_synthesizes_all(synthesized):
    assert sorted(synthesized.stacks) == ["dev", "prod", "staging"]


def test_selected_environment_is_the_only_stack():
    selected = synthesize(env="staging")
    assert list(selected.stacks) == ["staging"]
    assert [
        child.node.id for child in selected.app.node.children if child.node.id.startswith("Doc")
    ] == ["DocumentExceptions-staging"]


def test_empty_selection_means_all_environments():
    assert sorted(synthesize(env="").stacks) == ["dev", "prod", "staging"]


def run_app(context: dict, tmp_path) -> subprocess.CompletedProcess:
    environ = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps(context),
        "CDK_OUTDIR": str(tmp_path),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_configuration_error_stops_synth_with_one_line(tmp_path):
    context = cdk_context()
    context["environments"]["dev"]["volume_gib"] = 0
    result = run_app(context, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Configuration error: environment 'dev': volume_gib: 0 is outside 1..16384 GiB"
    ]
    assert not (tmp_path / "manifest.json").exists()


def test_unknown_environment_stops_synth_naming_the_known_ones(tmp_path):
    result = run_app(cdk_context(env="qa"), tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Configuration error: environment 'qa': unknown environment (known: dev, staging, prod)"
    ]


def test_synth_shows_the_kafka_end_of_support_warning_once(capsys):
    # The cluster construct's annotation is the one place; app.py adds no copy of its own.
    synthesize(env="dev")
    printed = capsys.readouterr()
    output = printed.out + printed.err
    assert output.count("Kafka 2.8.1 reached Amazon MSK end of support on 2024-09-11") == 1
    assert "Acknowledge with 'Annotation::document-exceptions:kafka-end-of-support'" in output
