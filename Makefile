# document-exceptions: one entry point for set-up, tests, synth, diff, deploy and the demo.
# Everything installs itself on first use: `make demo` and `make test` work on a fresh clone.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LAMBDA_PYTHON := 3.14
LAMBDA_PLATFORM := manylinux2014_x86_64
ENV ?=
CDK_ENV_ARG := $(if $(ENV),-c env=$(ENV),)
CDK := npx --no-install cdk
CDK_OUT := cdk.out
# CI passes --via-lookup-role (its deploy role may only assume the CDK bootstrap roles).
PREFLIGHT_FLAGS ?=
# cdk deploy stops for approval before broadening IAM/security-group changes; CI, where the
# pull request's security diff was reviewed and prod waits for an environment approval, says never.
REQUIRE_APPROVAL ?= broadening
# make security-diff: the base commit's synthesized assembly to compare with.
BASE_OUT ?= base/cdk.out

# Offline, quiet CDK: no telemetry, notices or version checks; CLI cache inside the repo.
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true
export npm_config_update_notifier := false
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_HOME := $(CURDIR)/.cdk-home
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup wheelhouse lint format test synth snapshots diff diff-deployed security-diff deploy deploy-ci preflight demo broker bench rehearse clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: $(VENV)/.installed node_modules/.installed .wheelhouse/.complete  ## Create the venv, install pinned Python and npm dependencies, fill the Lambda wheelhouse

# Set-up runs once (again only when a requirements file changes); each slow step says so first.
$(VENV)/.installed: requirements.txt requirements-dev.txt lambda_src/requirements.txt pyproject.toml
	@echo "Creating $(VENV) and installing Python dependencies (about 1 min, once)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo "Installing the AWS CDK CLI from npm (about 10 s, once)"
	@npm ci --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

# Wheels for the Lambda runtime (Python $(LAMBDA_PYTHON), x86_64), so synth bundles with no network.
LAMBDA_REQUIREMENTS := lambda_src/requirements.txt topic_bootstrap/requirements.txt acl_enforcement/requirements.txt
.wheelhouse/.complete: $(LAMBDA_REQUIREMENTS) $(VENV)/.installed
	@echo "Downloading the Lambda runtime's wheels into .wheelhouse/ (about 10 s, once)"
	@$(PY) -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
		--platform $(LAMBDA_PLATFORM) --python-version $(LAMBDA_PYTHON) --implementation cp \
		-d .wheelhouse $(addprefix -r ,$(LAMBDA_REQUIREMENTS))
	@touch $@

wheelhouse: .wheelhouse/.complete  ## Download the Lambda runtime wheels

lint: setup  ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup  ## Format and fix with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup lint  ## Set up, then run every test (unit, CDK assertions, cdk-nag, cfn-lint, snapshots, broker tests)
	$(PY) -m pytest

synth: setup  ## Synthesize offline: all environments, or ENV=dev|staging|prod
	@echo "Synthesizing $(STACKS) (about 10 s per environment), then cfn-lint"
	@$(CDK) synth $(CDK_ENV_ARG) --quiet --output $(CDK_OUT)
	@$(VENV)/bin/cfn-lint $(CDK_OUT)/*.template.json --ignore-checks W3005
	@echo "Synthesized $(foreach s,$(STACKS),$(CDK_OUT)/$(s).template.json) (cfn-lint clean)"

snapshots: setup  ## Refresh the committed template snapshots after an intended infrastructure change
	UPDATE_SNAPSHOTS=1 $(PY) -m pytest tests/test_snapshots.py -q

# Every stack the synth wrote: the environments' and, with ci.enabled, the CI access stacks.
LIST_STACKS := $(PY) -c 'import json, sys; artifacts = json.load(open(sys.argv[1]))["artifacts"]; print(*(name for name, artifact in artifacts.items() if artifact["type"] == "aws:cloudformation:stack"))'

diff: setup  ## Offline: diff each synthesized stack against its committed snapshot; fails on any difference
	$(CDK) synth $(CDK_ENV_ARG) --no-path-metadata --no-asset-metadata --quiet --output $(CDK_OUT)
	@for stack in $$($(LIST_STACKS) $(CDK_OUT)/manifest.json); do \
		echo "== $$stack"; \
		$(CDK) diff --app $(CDK_OUT) --template tests/snapshots/$$stack.json --fail $$stack || exit 1; \
	done

rehearse: setup  ## Offline: run each Lambda's code under its template's network, IAM, environment and time limits; one table, fails on any gap
	$(PY) -m tools.rehearse

preflight: setup  ## With real AWS credentials: no placeholder ids, bootstrap, Kafka version, instance type, subnets
	@test -n "$(ENV)" || { echo "usage: make preflight ENV=dev|staging|prod"; exit 2; }
	$(PY) -m tools.preflight --env $(ENV) $(PREFLIGHT_FLAGS)

deploy: setup  ## Deploy one environment: make deploy ENV=dev (run make preflight ENV=... first)
	@test -n "$(ENV)" || { echo "usage: make deploy ENV=dev|staging|prod"; exit 2; }
	@$(PY) -m tools.preflight --env $(ENV) --placeholders-only
	$(CDK) deploy -c env=$(ENV) --require-approval $(REQUIRE_APPROVAL) DocumentExceptions-$(ENV)

diff-deployed: setup  ## With AWS credentials: what deploying ENV would change (cdk diff against the deployed stack)
	@test -n "$(ENV)" || { echo "usage: make diff-deployed ENV=dev|staging|prod"; exit 2; }
	$(CDK) diff -c env=$(ENV) --method template DocumentExceptions-$(ENV)

security-diff:  ## Pull-request diff: BASE_OUT (base commit's cdk.out) vs this synth, security changes first
	$(PY) -m tools.security_diff --base $(BASE_OUT) --head $(CDK_OUT)

deploy-ci: setup  ## With administrator credentials: the GitHub Actions OIDC roles of ENV's account (ci.enabled in cdk.json)
	@test -n "$(ENV)" || { echo "usage: make deploy-ci ENV=dev|staging|prod"; exit 2; }
	@$(PY) -m tools.preflight --env $(ENV) --placeholders-only
	$(CDK) deploy -c env=$(ENV) --require-approval broadening 'DocumentExceptions-CI-*'

demo: setup  ## Run the whole system locally: synth summary, local SASL_SSL broker, topic bootstrap, publishing, read-back
	@$(PY) -m demo

PORT ?=
broker: setup  ## A local broker to play with (SASL_SSL on 9096, PLAINTEXT=1 for 9092) with the topic; prints the KAFKA_* exports; Ctrl-C stops it
	@$(PY) -m demo.playground --env $(or $(ENV),dev) $(if $(PORT),--port $(PORT),) $(if $(PLAINTEXT),--plaintext,)

bench: synth  ## Benchmarks against a local broker: producer paths, app-side sender, cold start, asset size
	$(PY) -m bench

clean:  ## Remove build output (keeps the venv and node_modules)
	rm -rf $(CDK_OUT) .cdk-home .pytest_cache .ruff_cache
