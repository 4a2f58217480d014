"""Orchestration: synthesize with bundling, run each Python function's code in a worker,
derive what the CDK-provided (Node.js) functions and the Lambda service do from the
template, check network, IAM, environment, time and the bundle, and print one table."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from document_exceptions.names import (
    ACL_ENFORCEMENT_RESOURCE_TYPE,
    ACL_RESOURCE_TYPE,
    KAFKA_AUTH_IAM,
    KAFKA_AUTH_VARIABLE,
    TOPIC_RESOURCE_TYPE,
)
from stacks.config import IAM_PORT, SCRAM_PORT
from stacks.vpc_function import ENI_ACTIONS
from tools.rehearse import checks
from tools.rehearse.bundle import check_imports, host_paths
from tools.rehearse.checks import Call, Outcome
from tools.rehearse.kafka_requests import needed_actions
from tools.rehearse.template import (
    Resolver,
    json_properties,
    referenced_logical_id,
    resources_of_type,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON_RUNTIME_PREFIX = "python"
CUSTOM_RESOURCE_KINDS = (TOPIC_RESOURCE_TYPE, ACL_RESOURCE_TYPE)
# Rehearsed beside cdk.json's environments: dev as a new environment on Kafka 3.x gets, with
# MSK's native topic resource, the provider for the ACL resource alone.
NATIVE_VARIANT = "dev-native"
NATIVE_VARIANT_KAFKA_VERSION = "3.8.x"
# This app's custom resources, by the name their functions are labelled with.
CUSTOM_RESOURCE_NAMES = {
    TOPIC_RESOURCE_TYPE: "topic",
    # The ACL resource shares the topic's provider (alone beside a native topic).
    ACL_RESOURCE_TYPE: "topic",
    ACL_ENFORCEMENT_RESOURCE_TYPE: "ACL enforcement",
}
# The CDK Provider framework's functions point at the handlers with these variables.
ON_EVENT_VARIABLE = "USER_ON_EVENT_FUNCTION_ARN"
IS_COMPLETE_VARIABLE = "USER_IS_COMPLETE_FUNCTION_ARN"
WAITER_VARIABLE = "WAITER_STATE_MACHINE_ARN"
FRAMEWORK_STEPS = {
    "framework.onEvent": "",
    "framework.isComplete": " (isComplete)",
    "framework.onTimeout": " (onTimeout)",
}
# The worker's kind of run for each label of a Python function (the rest run as the producer).
WORKER_KINDS = {
    "topic on-event": "custom-resource",
    "ACL enforcement on-event": "acl-on-event",
    "ACL enforcement is-complete": "acl-is-complete",
}


@dataclass(frozen=True)
class Environment:
    name: str
    stack_name: str
    region: str
    account: str
    template: Mapping[str, Any]


@dataclass
class Assembly:
    directory: Path
    environments: list[Environment]


@dataclass
class Row:
    function: str
    environment: str
    calls: list[str]
    cells: dict[str, Outcome] = field(default_factory=dict)

    @property
    def gaps(self) -> list[str]:
        return [gap for outcome in self.cells.values() for gap in outcome.gaps]


def with_native_variant(environments: Mapping[str, Any]) -> dict[str, Any]:
    """`environments` and NATIVE_VARIANT: dev on a Kafka 3.x with the native topic."""
    dev = environments["dev"]
    variant = {
        **dev,
        "kafka_version": NATIVE_VARIANT_KAFKA_VERSION,
        "topic": {**dev.get("topic", {}), "resource": "native"},
    }
    return {**environments, NATIVE_VARIANT: variant}


def synthesize(outdir: Path, **context_overrides: Any) -> Assembly:
    """Every environment of cdk.json and NATIVE_VARIANT, synthesized as `cdk synth` does,
    assets bundled (`context_overrides` replace context keys, e.g. `env` or `environments`,
    for tests; given `environments`, no variant is added)."""
    import aws_cdk as cdk  # noqa: PLC0415 - slow import, only when synthesizing

    import app as app_module  # noqa: PLC0415

    context = dict(json.loads((REPO_ROOT / "cdk.json").read_text())["context"])
    context.update(json.loads((REPO_ROOT / "cdk.context.json").read_text()))
    context["environments"] = with_native_variant(context["environments"])
    context.update(context_overrides)
    app = cdk.App(outdir=str(outdir), context=context)
    stacks = app_module.build(app)
    cloud_assembly = app.synth()
    return Assembly(
        directory=Path(cloud_assembly.directory),
        environments=[
            Environment(
                name=name,
                stack_name=stack.stack_name,
                region=stack.region,
                account=stack.account,
                template=cloud_assembly.get_stack_by_name(stack.stack_name).template,
            )
            for name, stack in stacks.items()
        ],
    )


# --- which function is which ----------------------------------------------------------------


def _framework_functions(template: Mapping[str, Any]) -> dict[str, str]:
    """Provider framework function -> the on-event function it invokes."""
    found = {}
    for logical, resource in resources_of_type(template, "AWS::Lambda::Function"):
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        target = referenced_logical_id(variables.get("USER_ON_EVENT_FUNCTION_ARN"))
        if target:
            found[logical] = target
    return found


def _sdk_call_functions(template: Mapping[str, Any]) -> dict[str, list[str]]:
    """AwsCustomResource function -> the Custom::AWS resources it serves."""
    found: dict[str, list[str]] = {}
    for logical, resource in resources_of_type(template, "Custom::AWS"):
        function = referenced_logical_id(resource["Properties"]["ServiceToken"])
        if function:
            found.setdefault(function, []).append(logical)
    return found


def _user_functions(template: Mapping[str, Any]) -> dict[str, str]:
    """This app's custom resource functions (on-event, is-complete) -> the resource's name."""
    frameworks = _framework_functions(template)
    found = {}
    for kind, name in CUSTOM_RESOURCE_NAMES.items():
        for _, resource in resources_of_type(template, kind):
            framework = referenced_logical_id(resource["Properties"]["ServiceToken"])
            variables = _variables(template, framework) if framework else {}
            for variable in (ON_EVENT_VARIABLE, IS_COMPLETE_VARIABLE):
                target = referenced_logical_id(variables.get(variable))
                if target:
                    found[target] = name
            if framework in frameworks:
                found.setdefault(frameworks[framework], name)
    return found


def _variables(template: Mapping[str, Any], logical: str) -> Mapping[str, Any]:
    properties = template["Resources"][logical]["Properties"]
    return properties.get("Environment", {}).get("Variables", {})


def label_functions(template: Mapping[str, Any]) -> dict[str, str]:
    frameworks = _framework_functions(template)
    sdk_calls = _sdk_call_functions(template)
    names = _user_functions(template)
    labels = {}
    for logical, resource in resources_of_type(template, "AWS::Lambda::Function"):
        handler = str(resource["Properties"].get("Handler", ""))
        if logical in frameworks:
            name = names.get(frameworks[logical], "custom resource")
            step = FRAMEWORK_STEPS.get(handler, "")
            labels[logical] = f"{name} provider framework{step}"
        elif logical in sdk_calls:
            labels[logical] = "broker lookup (AwsCustomResource)"
        elif logical in names:
            step = "is-complete" if handler.endswith(".is_complete") else "on-event"
            labels[logical] = f"{names[logical]} {step}"
        elif str(resource["Properties"].get("Runtime", "")).startswith(PYTHON_RUNTIME_PREFIX):
            labels[logical] = "producer"
        else:
            labels[logical] = logical
    return labels


def _custom_resource_budget(template: Mapping[str, Any], on_event: str) -> float | None:
    """The smallest TimeoutSeconds of the custom resources the on-event function serves."""
    frameworks = {f for f, target in _framework_functions(template).items() if target == on_event}
    budgets = [
        float(resource["Properties"]["TimeoutSeconds"])
        for kind in CUSTOM_RESOURCE_KINDS
        for _, resource in resources_of_type(template, kind)
        if referenced_logical_id(resource["Properties"]["ServiceToken"]) in frameworks
        and "TimeoutSeconds" in resource["Properties"]
    ]
    return min(budgets) if budgets else None


# --- calls derived from the template ----------------------------------------------------------


def _arn_of(resolver: Resolver, logical: str) -> str:
    kind = resolver.resources[logical]["Type"]
    if kind in (
        "AWS::SecretsManager::Secret",
        "AWS::MSK::Cluster",
        "AWS::IAM::ManagedPolicy",
        "AWS::StepFunctions::StateMachine",
    ):
        return str(resolver.ref(logical))
    return str(resolver.attribute(logical, "Arn"))


def platform_calls(resolver: Resolver, logical: str) -> list[Call]:
    """What the Lambda service does with the function's role: logs, ENIs, destinations, polling."""
    function = resolver.resources[logical]["Properties"]
    calls = []
    log_group = function.get("LoggingConfig", {}).get("LogGroup")
    log_logical = referenced_logical_id(log_group)
    group_name = str(resolver.resolve(log_group)) if log_group else f"/aws/lambda/{logical}"
    stream = resolver.arn("logs", f"log-group:{group_name}:log-stream:2026/12/02/[$LATEST]0")
    for operation in ("CreateLogStream", "PutLogEvents"):
        calls.append(Call("logs", operation, stream, log_logical, origin="platform"))
    if function.get("VpcConfig"):
        calls += [
            Call("ec2", action.split(":", 1)[1], "*", origin="platform") for action in ENI_ACTIONS
        ]
    function_refs = {logical}
    for _, resource in resources_of_type(resolver.template, "AWS::Lambda::EventInvokeConfig"):
        properties = resource["Properties"]
        if referenced_logical_id(properties["FunctionName"]) in function_refs:
            destination = (
                properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            )
            target = referenced_logical_id(destination)
            if target and resolver.resources[target]["Type"] == "AWS::SQS::Queue":
                calls.append(
                    Call("sqs", "SendMessage", _arn_of(resolver, target), target, "platform")
                )
    for _, resource in resources_of_type(resolver.template, "AWS::Lambda::EventSourceMapping"):
        properties = resource["Properties"]
        source = referenced_logical_id(properties.get("EventSourceArn"))
        if referenced_logical_id(properties["FunctionName"]) in function_refs and source:
            for operation in (
                "ReceiveMessage",
                "DeleteMessage",
                "ChangeMessageVisibility",
                "GetQueueAttributes",
            ):
                calls.append(Call("sqs", operation, _arn_of(resolver, source), source, "platform"))
    return calls


def template_calls(resolver: Resolver, logical: str) -> list[Call]:
    """The calls of the CDK-provided Node.js functions, which cannot run here."""
    calls = []
    function = resolver.resources[logical]["Properties"]
    variables = function.get("Environment", {}).get("Variables", {})
    # framework.onEvent invokes the on-event handler and starts the waiter (asynchronous
    # providers); framework.isComplete invokes the is-complete handler; onTimeout only answers
    # CloudFormation's pre-signed URL.
    invoked = {
        "framework.onEvent": (ON_EVENT_VARIABLE,),
        "framework.isComplete": (IS_COMPLETE_VARIABLE,),
    }.get(str(function.get("Handler")), ())
    for variable in invoked:
        target = referenced_logical_id(variables.get(variable))
        if target:
            calls.append(
                Call("lambda", "InvokeFunction", _arn_of(resolver, target), target, "template")
            )
    waiter = referenced_logical_id(variables.get(WAITER_VARIABLE))
    if waiter and function.get("Handler") == "framework.onEvent":
        calls.append(
            Call("states", "StartExecution", _arn_of(resolver, waiter), waiter, "template")
        )
    for custom in _sdk_call_functions(resolver.template).get(logical, []):
        properties = resolver.resources[custom]["Properties"]
        for event in ("Create", "Update", "Delete"):
            if event not in properties:
                continue
            sdk_call = json_properties(resolver, properties[event])
            action = sdk_call["action"][0].upper() + sdk_call["action"][1:]
            service = sdk_call["service"].lower()
            resource = next(
                (
                    str(v)
                    for k, v in sdk_call.get("parameters", {}).items()
                    if k.endswith(("Arn", "Name", "Url"))
                ),
                "*",
            )
            call = Call(service, action, resource, _logical_of(resolver, resource), "template")
            if call not in calls:
                calls.append(call)
    return calls


def _logical_of(resolver: Resolver, physical: str) -> str | None:
    for logical, _resource in resolver.resources.items():
        for attribute in ("Ref", "Arn"):
            try:
                value = (
                    resolver.ref(logical)
                    if attribute == "Ref"
                    else resolver.attribute(logical, "Arn")
                )
            except Exception:  # noqa: S112 - a resource without that attribute
                continue
            if value == physical:
                return logical
    return None


# --- running the Python functions -------------------------------------------------------------


def run_worker(  # noqa: PLR0917
    asset: Path,
    handler: str,
    kind: str,
    jobs: Sequence[dict[str, Any]],
    broker: Mapping[str, Any],
    workdir: Path,
) -> dict[str, Any]:
    job_file = workdir / f"job-{kind}.json"
    out_file = workdir / f"out-{kind}.json"
    job_file.write_text(
        json.dumps(
            {
                "asset_dir": str(asset),
                "handler": handler,
                "kind": kind,
                "environments": list(jobs),
                "broker": dict(broker),
                "host_paths": host_paths(),
            }
        )
    )
    completed = subprocess.run(
        [sys.executable, "-m", "tools.rehearse.worker", str(job_file), str(out_file)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    (workdir / f"worker-{kind}.log").write_text(completed.stderr)
    if completed.returncode != 0 or not out_file.exists():
        raise RuntimeError(f"rehearsal worker for {kind} failed:\n{completed.stderr[-3000:]}")
    return json.loads(out_file.read_text())


def recorded_calls(
    resolver: Resolver, physical: Mapping[str, str], raw: Mapping[str, Any], listener: str
) -> list[Call]:
    """The call, once per resource it acts on (UpdateClusterConfiguration: the cluster and the
    configuration, each a resource of the IAM action); the timing counts once."""
    if raw["kind"] == "kafka":
        return [Call("kafka-cluster", f"{listener} connect", "brokers", origin="recorded")]
    calls = []
    for index, named in enumerate([raw["resource"], *raw.get("extra_resources", [])]):
        logical = physical.get(named) or _logical_of(resolver, named)
        resource = _arn_of(resolver, logical) if logical else named
        calls.append(
            Call(
                raw["iam_prefix"],
                raw["operation"],
                resource,
                logical,
                "recorded",
                endpoint_prefix=raw["endpoint_prefix"],
                host=raw["host"],
                timing=None
                if index
                else {
                    k: raw[k]
                    for k in ("connect_timeout", "read_timeout", "retry_mode", "total_max_attempts")
                },
            )
        )
    return calls


def rehearse(
    assembly: Assembly, broker: Mapping[str, Any], workdir: Path | None = None
) -> list[Row]:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="rehearse-"))
    resolvers: dict[str, Resolver] = {}
    python_jobs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    labels_by_env: dict[str, dict[str, str]] = {}
    for environment in assembly.environments:
        resolvers[environment.name] = Resolver(
            environment.template, environment.region, environment.account, environment.stack_name
        )
        labels = labels_by_env[environment.name] = label_functions(environment.template)
        template_file = workdir / f"{environment.stack_name}.template.json"
        template_file.write_text(json.dumps(environment.template))
        for logical, label in labels.items():
            properties = environment.template["Resources"][logical]["Properties"]
            if not str(properties.get("Runtime", "")).startswith(PYTHON_RUNTIME_PREFIX):
                continue
            asset = assembly.directory / f"asset.{properties['Code']['S3Key'].removesuffix('.zip')}"
            kind = WORKER_KINDS.get(label, "producer")
            python_jobs.setdefault((str(asset), properties["Handler"], kind), []).append(
                {
                    "name": environment.name,
                    "template": str(template_file),
                    "function": logical,
                    "region": environment.region,
                    "account": environment.account,
                    "stack": environment.stack_name,
                }
            )
    results: dict[tuple[str, str], dict[str, Any]] = {}
    bundles: dict[tuple[str, str], dict[str, Any]] = {}
    # The import probes run beside the workers; the workers one after the other, the topic
    # resource's first (its Delete must not remove the topic while the producer publishes).
    with ThreadPoolExecutor(max_workers=len(python_jobs) or 1) as pool:
        probes = {
            (asset, handler): pool.submit(check_imports, Path(asset), handler)
            for asset, handler, _ in python_jobs
        }
        for key in sorted(python_jobs, key=lambda k: k[2] != "custom-resource"):
            jobs = python_jobs[key]
            output = run_worker(Path(key[0]), key[1], key[2], jobs, broker, workdir)
            for job, result in zip(jobs, output["results"], strict=True):
                results[(job["name"], job["function"])] = result
        bundles = {key: probe.result() for key, probe in probes.items()}

    rows = []
    for environment in assembly.environments:
        resolver = resolvers[environment.name]
        for logical, label in sorted(labels_by_env[environment.name].items(), key=lambda i: i[1]):
            rows.append(
                _row(assembly, environment, resolver, logical, label, results, bundles, broker)
            )
    return rows


def _row(  # noqa: PLR0917, PLR0915 - one cell of the table after the other
    assembly: Assembly,
    environment: Environment,
    resolver: Resolver,
    logical: str,
    label: str,
    results: Mapping[tuple[str, str], Mapping[str, Any]],
    bundles: Mapping[tuple[str, str], Mapping[str, Any]],
    broker: Mapping[str, Any],
) -> Row:
    function = environment.template["Resources"][logical]["Properties"]
    role = referenced_logical_id(function["Role"])
    result = results.get((environment.name, logical))
    iam_auth = _uses_iam(resolver, function)
    listener = "IAM" if iam_auth else "SASL/SCRAM"
    kafka_requests: list[Mapping[str, Any]] = []
    rehearsal_only: list[Mapping[str, Any]] = []
    invocations: list[tuple[str, list[Call]]] = []
    run = Outcome()
    environment_cell = Outcome()
    if result is not None:
        if "import_error" in result:
            run.gaps.append(f"run: handler import failed: {result['import_error']}")
        physical = result.get("physical", {})
        for invocation in result["invocations"]:
            kafka_requests += [r for r in invocation["calls"] if r["kind"] == "kafka-request"]
            rehearsal_only += [
                r for r in invocation["calls"] if r["kind"] == "aws" and r.get("rehearsal_only")
            ]
            calls = [
                call
                for raw in invocation["calls"]
                if raw["kind"] != "kafka-request" and not raw.get("rehearsal_only")
                for call in recorded_calls(resolver, physical, raw, listener)
            ]
            invocations.append((invocation["scenario"], calls))
            if invocation["problem"]:
                run.gaps.append(f"run: '{invocation['scenario']}': {invocation['problem']}")
        environment_cell = checks.check_environment(
            resolver,
            function,
            result.get("env_reads", {}),
            result.get("rehearsal_only", []),
            [broker["password"]],
        )
        asset = str(assembly.directory / f"asset.{function['Code']['S3Key'].removesuffix('.zip')}")
        bundle = bundles[(asset, function["Handler"])]
        if bundle["error"] or bundle["outside"]:
            run.gaps.append(
                "bundle: "
                + (
                    bundle["error"]
                    or "imports from outside the asset: " + ", ".join(bundle["outside"][:3])
                )
            )
        else:
            run.lines.append(
                "bundle imports alone"
                + (
                    f" (host builds of {', '.join(bundle['substituted'])})"
                    if bundle["substituted"]
                    else ""
                )
            )
    else:
        invocations.append(("template", template_calls(resolver, logical)))
        environment_cell.lines.append("CDK code, not run")
        run.lines.append("CDK code: calls from the template")
    runtime_calls = _unique([c for _, calls in invocations for c in calls])
    all_calls = runtime_calls + platform_calls(resolver, logical)
    kafka = any(c.service == "kafka-cluster" for c in runtime_calls)
    aws_calls = [c for c in all_calls if c.service != "kafka-cluster"]
    kafka_calls, unknown = kafka_iam_calls(resolver, kafka_requests) if iam_auth else ([], [])
    row = Row(label, environment.name, [c.label() for c in _unique(runtime_calls + kafka_calls)])
    row.cells["network"] = checks.check_network(
        resolver, function, aws_calls, kafka, kafka_port=IAM_PORT if iam_auth else SCRAM_PORT
    )
    row.cells["IAM"] = (
        checks.check_iam(resolver, role, aws_calls + kafka_calls)
        if role
        else Outcome(gaps=["IAM: no role"])
    )
    row.cells["IAM"].gaps += [f"IAM: no MSK IAM action known for Kafka {api}" for api in unknown]
    run.lines += _iam_as_scram_note(rehearsal_only)
    if result is not None and result.get("iam_login"):
        run.lines.append("IAM login (AWS_MSK_IAM) on the local broker with its test credentials")
    row.cells["environment"] = environment_cell
    budget = float(function.get("Timeout", 3))
    budget_name = "function timeout"
    custom_budget = _custom_resource_budget(environment.template, logical)
    if custom_budget is not None and custom_budget < budget:
        budget, budget_name = custom_budget, "TimeoutSeconds"
    if result is not None:
        row.cells["time"] = checks.check_time(invocations, budget, budget_name)
    else:
        row.cells["time"] = Outcome(lines=["CDK code, not checked"])
    row.cells["run"] = run
    return row


def _iam_as_scram_note(rehearsal_only: Sequence[Mapping[str, Any]]) -> list[str]:
    if not rehearsal_only:
        return []
    return [
        "IAM run as SASL/SCRAM on the local broker (no AWS_MSK_IAM there): "
        f"{len(rehearsal_only)} secret reads left out of the checks; the Kafka requests' "
        "MSK IAM actions checked against the role"
    ]


def _uses_iam(resolver: Resolver, function: Mapping[str, Any]) -> bool:
    variables = function.get("Environment", {}).get("Variables", {})
    return str(resolver.resolve(variables.get(KAFKA_AUTH_VARIABLE, ""))) == KAFKA_AUTH_IAM


def kafka_iam_calls(
    resolver: Resolver, requests: Sequence[Mapping[str, Any]]
) -> tuple[list[Call], list[str]]:
    """The `kafka-cluster:*` authorizations the recorded Kafka requests need, as calls on the
    template's cluster, topic and group ARNs (built like MSK builds them)."""
    clusters = list(resources_of_type(resolver.template, "AWS::MSK::Cluster"))
    if not clusters:
        return [], []
    cluster_logical = clusters[0][0]
    cluster_arn = str(resolver.ref(cluster_logical))
    prefix, name, uuid = cluster_arn.split("/", 2)

    def arn_of(kind: str, resource: str) -> str:
        if kind == "cluster":
            return cluster_arn
        return f"{prefix.rsplit(':', 1)[0]}:{kind}/{name}/{uuid}/{resource}"

    needed, unknown = needed_actions(requests, arn_of)
    calls = [
        Call(
            "kafka-cluster",
            action.split(":", 1)[1],
            arn,
            cluster_logical if arn == cluster_arn else None,
            "recorded",
        )
        for action, arn in needed
    ]
    return calls, unknown


def _unique(calls: Sequence[Call]) -> list[Call]:
    seen: dict[tuple[str, str, str], Call] = {}
    for call in calls:
        seen.setdefault((call.service, call.operation, call.resource), call)
    return list(seen.values())


COLUMNS = ("function", "environment", "calls", "network", "IAM", "environment vars", "time")
NOTES = (
    "Calls marked [template] come from the template (CDK's Node.js code cannot run here); "
    "IAM also covers what the Lambda service does with each role (logs, ENIs, the SQS event "
    "source, the on-failure destination).",
    "Rehearsal-only settings: KAFKA_SSL_CAFILE (the local broker's CA stands in for the "
    "public CA of MSK's certificates), replication factor 1 (one local broker), and, for the "
    "asynchronous-failure invocation, an unreachable broker address with a 1 s bootstrap.",
)


def render(rows: Sequence[Row]) -> str:
    """One Markdown table, then every gap on its own line."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [
            row.function,
            row.environment,
            "<br>".join(row.calls) or "none",
            *(
                ("GAP " if row.cells[name].gaps else "") + row.cells[name].summary()
                for name in ("network", "IAM", "environment", "time")
            ),
        ]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    gaps = [f"GAP {row.function} ({row.environment}): {gap}" for row in rows for gap in row.gaps]
    notes = [
        f"{row.function} ({row.environment}): {row.cells['run'].summary()}"
        for row in rows
        if not row.cells["run"].gaps
    ]
    lines += ["", *NOTES, *notes, "", *(gaps or ["No gaps."])]
    return "\n".join(lines)
