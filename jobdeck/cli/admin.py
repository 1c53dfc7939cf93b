"""`jobdeck admin ...`: organizations, users and API keys, straight in the database."""

from __future__ import annotations

import argparse
import asyncio
import sys

from jobdeck.config import Settings


def cmd_admin(settings: Settings, args: argparse.Namespace) -> int:
    from jobdeck.admin import create_account, create_key
    from jobdeck.errors import JobdeckError
    from jobdeck.store.accounts import Role
    from jobdeck.store.engine import Database

    async def run() -> str:
        db = Database.connect(settings.database_url)
        try:
            if args.admin_command == "create-user":
                created = await create_account(
                    db,
                    organization=args.org,
                    email=args.email,
                    name=args.name or args.email,
                    role=Role(args.role),
                )
                return (
                    f"organization {created.organization_id}\nuser {created.user_id}\n"
                    f"API key (shown once): {created.key}"
                )
            key = await create_key(db, email=args.email, name=args.name)
            return f"API key (shown once): {key}"
        finally:
            await db.dispose()

    try:
        print(asyncio.run(run()))
    except JobdeckError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = sub.add_parser("admin", help="manage organizations, users and API keys")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    user = admin_sub.add_parser("create-user", help="a user (and its organization if new)")
    user.add_argument("--org", required=True, help="organization name")
    user.add_argument("--email", required=True)
    user.add_argument("--name")
    user.add_argument("--role", choices=["admin", "member"], default="member")
    key = admin_sub.add_parser("create-key", help="a new API key for a user")
    key.add_argument("--email", required=True)
    key.add_argument("--name", default="cli")
