"""The API fixture of tests/api (users of every role, a case of team east with contact points, one of west)."""

from tests.api.conftest import api  # noqa: F401
