"""The API fixture of tests/api (users of every role, a case of team east and one of team west)."""

from tests.api.conftest import api  # noqa: F401
