"""Smoke test of the real immudb server the test harness builds and starts.

No mock: this logs in with immudb-py, runs SQL DDL and a multi-row insert plus
a select in ONE SQL transaction, and does a cryptographically verified set/get.
"""

from __future__ import annotations

from immudb import ImmudbClient

from tests.immudb_harness import ADMIN_PASSWORD, ADMIN_USER


def test_sql_transaction_and_verified_kv(immudb_server, immudb_database):
    client = ImmudbClient(immudb_server.address, timeout=30)
    client.login(ADMIN_USER, ADMIN_PASSWORD, database=immudb_database.encode())
    try:
        client.sqlExec(
            "CREATE TABLE IF NOT EXISTS smoke ("
            " id INTEGER AUTO_INCREMENT, name VARCHAR[64] NOT NULL, payload BLOB,"
            " PRIMARY KEY id)"
        )
        # Several statements in one sqlExec are one atomic transaction.
        result = client.sqlExec(
            "BEGIN TRANSACTION;"
            " INSERT INTO smoke(name, payload) VALUES (@a, @pa), (@b, @pb);"
            " INSERT INTO smoke(name, payload) VALUES (@c, NULL);"
            " COMMIT;",
            {"a": "sword", "pa": b"\x00\x01", "b": "shield", "pb": b"", "c": "bag"},
        )
        assert len(result.txs) == 1
        assert result.txs[0].updatedRows == 3
        assert result.txs[0].lastInsertedPKs["smoke"].n == 3
        rows = client.sqlQuery("SELECT id, name, payload FROM smoke ORDER BY id")
        assert rows == [(1, "sword", b"\x00\x01"), (2, "shield", b""), (3, "bag", None)]

        state = client.verifiedSet(b"aethyr:smoke", b"verified value")
        assert state.verified is True
        got = client.verifiedGet(b"aethyr:smoke")
        assert got.verified is True
        assert got.value == b"verified value"
    finally:
        client.logout()
        client.channel.close()
