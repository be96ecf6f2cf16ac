"""The OpenAPI document, fuzzed by schemathesis against the app: no request makes a server error."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from leian.web.app import create_app
from leian.web.openapi import OPERATIONS
from schemathesis.checks import not_a_server_error
from web_support import PASSWORD, ROLES_USERS, web_home_copy


@pytest.fixture(scope="module")
def app():
    # The fuzzer creates libraries and audit rows with random names: on a copy, so no other test reads them.
    return create_app(web_home_copy(), testing=True)


@pytest.fixture(scope="module")
def admin_session(app):
    """An admin's session cookie and CSRF token, sent with every generated request."""
    client = app.test_client()
    answer = client.post("/api/login", json={"username": ROLES_USERS["admin"], "password": PASSWORD})
    cookie = client.get_cookie("leian_session")
    return {"cookies": {"leian_session": cookie.value}, "headers": {"X-CSRF-Token": answer.get_json()["csrf_token"]}}


def test_no_generated_request_makes_a_server_error(app, admin_session):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    # Logging out would end the session the other requests run in (test_web.py covers it).
    operations = [op for op in (result.ok() for result in schema.get_all_operations()) if op.path != "/api/logout"]
    assert len(operations) == len(OPERATIONS) - 1
    statuses: set[int] = set()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck), database=None)
        def call(case):
            statuses.add(case.call_and_validate(checks=[not_a_server_error], **admin_session).status_code)

        call()
    assert {200, 201} <= statuses  # logged in with the CSRF token: reads and creations went through
