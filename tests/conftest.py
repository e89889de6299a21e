"""Shared fixtures: PostgreSQL test databases, parametrised stores, live servers."""

pytest_plugins = [
    "tests.fixtures.pg",
    "tests.fixtures.stores",
    "tests.fixtures.server",
    "tests.fixtures.thirdparty",
]
