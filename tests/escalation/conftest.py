"""The API fixture of tests/api, for the escalation API tests."""

from tests.api.conftest import api  # noqa: F401
