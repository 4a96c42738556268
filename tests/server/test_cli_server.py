"""``carbontrail serve token ...`` on a real ledger."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from carbontrail.cli.main import app
from carbontrail.ledger import Ledger
from carbontrail.server.auth import TokenStore

runner = CliRunner()


def test_token_commands(sqlite_url):
    res = runner.invoke(
        app, ["serve", "token", "create", "--role", "committee", "--name", "ana", "--url", sqlite_url, "--json"]
    )
    assert res.exit_code == 0, res.output
    created = json.loads(res.stdout)
    led = Ledger.open(sqlite_url)
    p = TokenStore(led).verify(created["token"])
    assert p is not None and (p.name, p.role) == ("ana", "committee")
    listed = json.loads(runner.invoke(app, ["serve", "token", "list", "--url", sqlite_url, "--json"]).stdout)
    assert [t["token_id"] for t in listed] == [created["token_id"]]
    assert runner.invoke(app, ["serve", "token", "revoke", created["token_id"], "--url", sqlite_url]).exit_code == 0
    assert TokenStore(led).verify(created["token"]) is None
    assert runner.invoke(app, ["serve", "token", "revoke", created["token_id"], "--url", sqlite_url]).exit_code == 1
    bad = runner.invoke(app, ["serve", "token", "create", "--role", "root", "--url", sqlite_url])
    assert bad.exit_code == 3 and "unknown role" in bad.output
    led.close()
