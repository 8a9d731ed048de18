"""immudb users and their permissions: create, grant, list (``aethyr-es users``).

immudb gives each user a permission *per database* (``docs/security.md``):

=========  =====  ==================================================================
name       code   what the user may do in that database
=========  =====  ==================================================================
read       1      read: KV gets and scans, SQL SELECT, proofs, current state
readwrite  2      read and write: KV sets (the recorder's appends), SQL DML and DDL
admin      254    readwrite, plus manage users of the database and flush/compact
=========  =====  ==================================================================

Only immudb's superuser (``immudb``) may create databases or change a database's
settings. The recorder needs ``readwrite`` on its own database and nothing else;
the read-only ``aethyr-es`` commands (``world``, ``history``, ``verify``, ``stats``)
need ``read``.

:class:`UserAdmin` talks to immudb's user API (``CreateUser``, ``ChangePermission``,
``ListUsers``) through the raw gRPC stub, on the connection settings of an admin
(:class:`~aethyr_immudb_recorder.settings.ImmudbSettings`: TLS, password file and
all). It never logs or returns a password; a refused call becomes a
:class:`UserAdminError` carrying the server's reason.
"""

from __future__ import annotations

import dataclasses
import datetime
import unicodedata
from typing import Any

import grpc
from eventsourcing.persistence import PersistenceError
from google.protobuf import empty_pb2
from immudb.grpc import schema_pb2

from aethyr_immudb_recorder.datastore import ImmudbDatastore
from aethyr_immudb_recorder.errors import details_of
from aethyr_immudb_recorder.settings import ImmudbSettings

PERMISSIONS: dict[str, int] = {"read": 1, "readwrite": 2, "admin": 254}
"""Permission names ``aethyr-es users`` accepts, and immudb's codes for them."""

_NAMES = {code: name for name, code in PERMISSIONS.items()} | {255: "sysadmin"}


class UserAdminError(Exception):
    """A user-management call was refused or is invalid; the message says why."""


@dataclasses.dataclass(frozen=True)
class UserInfo:
    """One immudb user as :meth:`UserAdmin.list_users` reports it (no password)."""

    name: str
    active: bool
    created_by: str
    created_at: str
    #: database name -> permission name (``read``, ``readwrite``, ``admin``, ``sysadmin``)
    permissions: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def line(self) -> str:
        """``name  active  db:perm, ...  (created by X)`` for the table output."""
        grants = ", ".join(f"{db}:{perm}" for db, perm in sorted(self.permissions.items()))
        state = "active" if self.active else "inactive"
        by = f" (created by {self.created_by})" if self.created_by else ""
        return f"{self.name}  {state}  {grants or '-'}{by}"


def permission_code(name: str) -> int:
    """immudb's code for ``read``, ``readwrite`` or ``admin`` (``UserAdminError`` otherwise)."""
    try:
        return PERMISSIONS[name]
    except KeyError:
        choices = ", ".join(PERMISSIONS)
        raise UserAdminError(f"unknown permission {name!r} (choose {choices})") from None


STRENGTH_RULES = (
    "8 to 32 bytes of letters, digits and symbols, with at least one upper-case letter, "
    "one digit and one symbol"
)


def check_password_strength(password: str) -> None:
    """Refuse a password immudb's own tools would refuse (``UserAdminError``).

    immudb's server stores whatever ``CreateUser`` gets; only ``immuadmin`` checks
    strength (``auth.IsStrongPassword``). This is the same rule. The message never
    includes the password.
    """
    weak = UserAdminError(f"the new password is too weak: immudb wants {STRENGTH_RULES}")
    if not 8 <= len(password.encode()) <= 32:
        raise weak
    upper = digit = symbol = False
    for ch in password:
        category = unicodedata.category(ch)
        if ch.isupper():
            upper = True
        elif ch.islower():
            pass
        elif ch.isdigit():
            digit = True
        elif category[0] in "PS":
            symbol = True
        else:
            raise weak
    if not (upper and digit and symbol):
        raise weak


class UserAdmin:
    """Create users, grant permissions and list users, as an immudb admin.

    ``settings`` are the admin's connection settings; the session is opened on
    ``settings.database`` (the superuser may use any database; a database's own
    ``admin`` manages the users of that database only).
    """

    def __init__(self, settings: ImmudbSettings) -> None:
        self.settings = settings
        self._datastores: dict[tuple[str, bool], ImmudbDatastore] = {}

    def __repr__(self) -> str:
        return f"UserAdmin(address={self.settings.address!r}, user={self.settings.user!r})"

    def _datastore(self, database: str, *, create: bool = False) -> ImmudbDatastore:
        key = (database, create)
        datastore = self._datastores.get(key)
        if datastore is None:
            settings = dataclasses.replace(
                self.settings,
                database=database,
                create_database=create,
                create_table=create,
                sync_frequency_ms=None,  # never touch the database's settings here
                max_retries=min(self.settings.max_retries, 3),
            )
            datastore = ImmudbDatastore(settings)
            self._datastores[key] = datastore
        return datastore

    def _call(self, database: str, operation: str, method: str, request: Any, **kw: bool) -> Any:
        datastore = self._datastore(database, **kw)

        def call(session: Any) -> Any:
            rpc = getattr(datastore.stub, method)
            return rpc(request, metadata=session.metadata, timeout=self.settings.timeout)

        try:
            return datastore.run(operation, call)
        except PersistenceError as exc:
            raise UserAdminError(f"{operation} refused: {exc}") from None
        except grpc.RpcError as exc:  # pragma: no cover (run translates RpcErrors)
            raise UserAdminError(f"{operation} refused: {details_of(exc)}") from None

    def create_user(
        self,
        name: str,
        password: str,
        *,
        database: str,
        permission: str,
        create_database: bool = False,
    ) -> None:
        """Create user ``name`` with ``permission`` on ``database``.

        ``create_database`` creates the database first when it is missing (needs
        immudb's superuser). immudb itself checks the password's strength (8-32
        characters with an upper-case letter, a digit and a symbol) and refuses
        an existing name.
        """
        code = permission_code(permission)
        if not name or not name.strip():
            raise UserAdminError("the user name must not be blank")
        check_password_strength(password)
        request = schema_pb2.CreateUserRequest(
            user=name.encode(), password=password.encode(), permission=code, database=database
        )
        self._call(database, "create user", "CreateUser", request, create=create_database)

    def grant(self, name: str, *, database: str, permission: str) -> None:
        """Give user ``name`` ``permission`` on ``database`` (replacing what it had there)."""
        request = schema_pb2.ChangePermissionRequest(
            action=schema_pb2.PermissionAction.GRANT,
            username=name,
            database=database,
            permission=permission_code(permission),
        )
        self._call(database, "grant permission", "ChangePermission", request)

    def revoke(self, name: str, *, database: str) -> None:
        """Take away every permission of user ``name`` on ``database``."""
        request = schema_pb2.ChangePermissionRequest(
            action=schema_pb2.PermissionAction.REVOKE,
            username=name,
            database=database,
            permission=PERMISSIONS["read"],
        )
        self._call(database, "revoke permission", "ChangePermission", request)

    def list_users(self) -> list[UserInfo]:
        """Every user with its permissions, sorted by name."""
        reply = self._call(self.settings.database, "list users", "ListUsers", empty_pb2.Empty())
        users = [
            UserInfo(
                name=user.user.decode(errors="replace"),
                active=bool(user.active),
                created_by=str(user.createdby),
                created_at=_created_at(str(user.createdat)),
                permissions={
                    str(p.database): _NAMES.get(int(p.permission), str(p.permission))
                    for p in user.permissions
                },
            )
            for user in reply.users
        ]
        return sorted(users, key=lambda u: u.name)

    def close(self) -> None:
        for datastore in self._datastores.values():
            datastore.close()
        self._datastores.clear()

    def __enter__(self) -> UserAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _created_at(text: str) -> str:
    """immudb's creation time as given (a Go time string); ISO-8601 when it parses."""
    head = text.split(" +", 1)[0].split(".", 1)[0]
    try:
        return datetime.datetime.strptime(head, "%Y-%m-%d %H:%M:%S").isoformat()
    except ValueError:
        return text
