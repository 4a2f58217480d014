from tests.ops_helpers import fake_aws, no_aws_region

pytest_plugins = ["tests.harness.fixtures", "tests.stack_fixtures", "tests.figures"]

__all__ = ["fake_aws", "no_aws_region"]  # fixtures, for every test module
