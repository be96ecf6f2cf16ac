"""Web security as an attacker would try it, through the real app on a real store.

Open redirects after login, what login answers tell about which usernames exist, per-client rate
limits, a lockout that strangers cannot use against a user, the ``Secure`` cookie setting for
HTTPS deployments, and library names that could hide or disguise themselves.
"""
from __future__ import annotations

import json

import pytest
from leian.errors import ConfigError
from leian.web import accounts as accounts_module
from leian.web.app import LOGIN_LIMIT, create_app, services
from web_support import PASSWORD, ROLES_USERS, web_home

from leian.home import Home

#: The most failed logins one address may make per minute under the default limit.
PER_MINUTE = int(LOGIN_LIMIT.split(" per minute")[0])


@pytest.fixture(scope="module")
def app():
    return create_app(web_home(), testing=True)


def _client(app, address: str):
    """A test client calling from ``address``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _form_login(client, username: str, password: str, query: str = ""):
    client.get("/login")
    with client.session_transaction() as session:
        token = session["csrf"]
    return client.post("/login" + query, data={"username": username, "password": password, "csrf_token": token})


@pytest.mark.parametrize("target", [
    "%2F%09%2Fevil.example", "%2F%0A%2Fx", "%2F%0D%2Fevil.example", "%2F%5Cevil.example", "%09%2F%2Fevil.example",
    "https%3A%2F%2Fevil.example", "%2F%2Fevil.example", "%2F%20%2Fevil.example", "%2F%7F%2Fevil.example",
])
def test_login_never_redirects_off_site_however_next_is_written(app, target):
    answer = _form_login(_client(app, "192.0.2.10"), "med", PASSWORD, f"?next={target}")
    assert answer.status_code == 302 and answer.headers["Location"] == "/"


def test_login_follows_a_same_site_next(app):
    answer = _form_login(_client(app, "192.0.2.11"), "med", PASSWORD, "?next=%2Fcases%2FT0001%3Fhops%3D2")
    assert answer.status_code == 302 and answer.headers["Location"] == "/cases/T0001?hops=2"


def test_unknown_and_known_usernames_cost_the_same_password_check(app, monkeypatch):
    """Timing must not tell which usernames exist: every login verifies exactly one scrypt hash."""
    verified = []

    def counting(stored_hash: str, password: str) -> bool:
        verified.append(stored_hash.split("$", 1)[0])
        return real(stored_hash, password)

    real = accounts_module.check_password_hash
    monkeypatch.setattr(accounts_module, "check_password_hash", counting)
    client = _client(app, "192.0.2.12")
    for username in ("no-such-user", "med", "med"):
        password = PASSWORD if len(verified) == 2 else "wrong-password"
        client.post("/api/login", json={"username": username, "password": password})
    with app.app_context():
        stored = services().store.conn.execute("SELECT password_hash FROM web_users WHERE username = 'med'").fetchone()[0]
    method = stored.split("$", 1)[0]  # e.g. scrypt:32768:8:1: the dummy hash is made the same way
    assert verified == [method, method, method]


def test_failed_logins_are_rate_limited_per_client_address(app):
    attacker = _client(app, "203.0.113.7")
    for n in range(PER_MINUTE):
        assert attacker.post("/api/login", json={"username": f"guess{n}", "password": "wrong-guess"}).status_code == 401
    refused = attacker.post("/api/login", json={"username": "med", "password": PASSWORD})
    assert refused.status_code == 429 and refused.get_json()["error"]["message"] == "请求过于频繁，请稍后再试"
    assert int(refused.headers["Retry-After"]) > 0
    page = _form_login(_client(app, "203.0.113.7"), "med", PASSWORD)
    assert page.status_code == 429 and "请求过于频繁" in page.get_data(as_text=True)
    assert _client(app, "203.0.113.8").post("/api/login", json={"username": "med", "password": PASSWORD}).status_code == 200


def test_successful_logins_are_not_limited(app):
    office = _client(app, "192.0.2.13")
    for _ in range(PER_MINUTE + 5):
        assert office.post("/api/login", json={"username": "ana", "password": PASSWORD}).status_code == 200


def test_a_stranger_cannot_lock_a_user_out(app):
    stranger = _client(app, "198.51.100.20")
    for _ in range(accounts_module.LOCKOUT_FAILURES):
        assert stranger.post("/api/login", json={"username": "tra", "password": "wrong-guess"}).status_code == 401
    # The guesser is locked out of this account, even with the right password ...
    assert stranger.post("/api/login", json={"username": "tra", "password": PASSWORD}).status_code == 401
    # ... while its owner, from their own address, logs in as always.
    assert _client(app, "192.0.2.14").post("/api/login", json={"username": "tra", "password": PASSWORD}).status_code == 200
    log = [e for e in _admin(app).get("/api/audit?limit=50").get_json()["entries"] if e["action"] == "login_failed"]
    assert log[0]["username"] == "tra" and log[0]["target"] == "198.51.100.20"


def _admin(app):
    client = _client(app, "192.0.2.15")
    answer = client.post("/api/login", json={"username": ROLES_USERS["admin"], "password": PASSWORD})
    client.csrf = answer.get_json()["csrf_token"]
    return client


def _home_with(tmp_path, web_config: str) -> Home:
    tmp_path.mkdir()
    (tmp_path / "config.toml").write_text(f"[web]\n{web_config}\n", encoding="utf-8")
    home = Home.resolve(tmp_path)
    with home.open_store() as store:
        accounts_module.Accounts(store).add("chief", "admin", PASSWORD)
    return home


def test_the_session_cookie_is_secure_when_served_over_https(tmp_path):
    secure = create_app(_home_with(tmp_path / "https", "secure_cookies = true"), testing=True)
    answer = secure.test_client().post("/api/login", json={"username": "chief", "password": PASSWORD})
    assert answer.status_code == 200 and "; Secure" in answer.headers["Set-Cookie"]
    plain = create_app(_home_with(tmp_path / "http", ""), testing=True)
    assert "Secure" not in plain.test_client().post("/api/login", json={"username": "chief", "password": PASSWORD}).headers["Set-Cookie"]
    with pytest.raises(ConfigError, match=r"\[web\] secure_cookies 须为 true 或 false"):  # checked when the home opens
        _home_with(tmp_path / "typo", 'secure_cookies = "yes"')


def test_behind_a_trusted_proxy_limits_and_lockouts_follow_the_forwarded_address(tmp_path):
    app = create_app(_home_with(tmp_path / "proxied", "proxies = 1"), testing=True)
    proxy = _client(app, "10.0.0.1")
    for _ in range(accounts_module.LOCKOUT_FAILURES):
        proxy.post("/api/login", json={"username": "chief", "password": "wrong-guess"}, headers={"X-Forwarded-For": "198.51.100.30"})
    assert proxy.post("/api/login", json={"username": "chief", "password": PASSWORD},
                      headers={"X-Forwarded-For": "198.51.100.30"}).status_code == 401
    assert proxy.post("/api/login", json={"username": "chief", "password": PASSWORD},
                      headers={"X-Forwarded-For": "192.0.2.40"}).status_code == 200


@pytest.mark.parametrize(("name", "message"), [
    ("培训\x00库", "U+0000"), ("培训\u202e库", "U+202E"), ("培训\n库", "U+000A"), ("培\u200b训", "U+200B"),
    ("长" * 81, "最多 80 个字符"),
])
def test_library_names_refuse_control_characters_and_overlong_names(app, name, message):
    trainer = _client(app, "192.0.2.16")
    trainer.csrf = trainer.post("/api/login", json={"username": "tra", "password": PASSWORD}).get_json()["csrf_token"]
    headers = {"X-CSRF-Token": trainer.csrf, "Content-Type": "application/json"}
    # Sent as a client would (the test client's own JSON encoder is the app's, which drops bidi controls).
    refused = trainer.post("/api/libraries", data=json.dumps({"name": name}), headers=headers)
    assert refused.status_code == 400 and message in refused.get_json()["error"]["detail"]
    created = trainer.post("/api/libraries", json={"name": f"改名测试{len(name)}{ord(message[-1])}"}, headers={"X-CSRF-Token": trainer.csrf})
    library_id = created.get_json()["library"]["id"]
    renamed = trainer.patch(f"/api/libraries/{library_id}", data=json.dumps({"name": name}), headers=headers)
    assert renamed.status_code == 400 and message in renamed.get_json()["error"]["detail"]
