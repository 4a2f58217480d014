pytest_plugins = ["tests.harness.fixtures", "tests.stack_fixtures"]
