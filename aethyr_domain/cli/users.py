"""``users create|grant|list``: immudb users and permissions, run with an admin's
credentials (:mod:`aethyr_immudb_recorder.users`, ``docs/security.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aethyr_domain.cli.common import (
    CliError,
    load_config,
)


# ------------------------------------------------------------------ users
def run_users(args: argparse.Namespace) -> int:
    """``users create|grant|list``: immudb users, as the configured (admin) user."""
    from eventsourcing.utils import Environment

    from aethyr_domain.application import World
    from aethyr_immudb_recorder.errors import ConfigurationError
    from aethyr_immudb_recorder.settings import ImmudbSettings
    from aethyr_immudb_recorder.users import UserAdmin, UserAdminError

    config = load_config(args)
    if config.event_store != "immudb":
        raise CliError(f"users needs event_store = immudb (configured: {config.event_store})")
    try:
        settings = ImmudbSettings.from_env(
            Environment(name=World.name, env=config.eventsourcing_env())
        )
    except ConfigurationError as exc:
        raise CliError(str(exc)) from None
    database = args.database or config.immudb_database
    with UserAdmin(settings) as admin:
        try:
            if args.users_command == "list":
                users = admin.list_users()
                if args.json:
                    rows = [u.as_dict() for u in users]
                    sys.stdout.write(json.dumps(rows, sort_keys=True, indent=2) + "\n")
                else:
                    for user in users:
                        print(user.line())
                return 0
            if args.users_command == "grant":
                admin.grant(args.name, database=database, permission=args.permission)
                print(f"user {args.name!r} has {args.permission} on database {database!r}")
                return 0
            password = _new_password(args.password_file)
            admin.create_user(
                args.name,
                password,
                database=database,
                permission=args.permission,
                create_database=args.create_database,
            )
        except UserAdminError as exc:
            raise CliError(str(exc)) from None
    print(f"created immudb user {args.name!r} with {args.permission} on database {database!r}")
    return 0


def _new_password(path: str | None) -> str:
    """The new user's password: from ``path`` or standard input (one line; never echoed)."""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read --password-file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CliError(f"cannot read --password-file {path}: not UTF-8") from None
        password = text.removesuffix("\n").removesuffix("\r")
    elif sys.stdin.isatty():
        import getpass

        password = getpass.getpass("new user's password: ")
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise CliError("no password given (standard input or --password-file)")
    return password


def add_users_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    users = sub.add_parser(
        "users", help="immudb users and permissions (run with an admin's credentials)"
    )
    users_sub = users.add_subparsers(dest="users_command", required=True)
    for command in ("create", "grant"):
        p = users_sub.add_parser(
            command,
            parents=[common],
            help="create a user with a permission on one database"
            if command == "create"
            else "give an existing user a permission on one database",
        )
        p.add_argument("name", metavar="NAME")
        p.add_argument("--database", metavar="DB", help="default: immudb_database")
        p.add_argument("--permission", required=True, choices=("read", "readwrite", "admin"))
        if command == "create":
            p.add_argument(
                "--password-file",
                metavar="FILE",
                help="read the new password from FILE (default: standard input)",
            )
            p.add_argument(
                "--create-database",
                action="store_true",
                help="create the database first if it is missing (needs immudb's superuser)",
            )
        p.set_defaults(func=run_users)
    listing = users_sub.add_parser("list", parents=[common], help="every user and permission")
    listing.add_argument("--json", action="store_true", help="JSON output")
    listing.set_defaults(func=run_users, database=None)
