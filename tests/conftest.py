from tests.ops_helpers import fake_aws

pytest_plugins = ["tests.harness.fixtures", "tests.stack_fixtures"]

__all__ = ["fake_aws"]  # a fixture, for every test module
