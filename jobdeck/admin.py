"""Organizations, users and keys from the command line, straight on the database."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.store import accounts
from jobdeck.store.engine import Database

ADMIN_KEY_FILE = "admin-key"


@dataclass
class Created:
    organization_id: str
    user_id: str
    key: str


async def create_account(
    db: Database, *, organization: str, email: str, name: str, role: accounts.Role
) -> Created:
    """A user (and its organization, if new) with a first API key."""
    now = utcnow()
    async with db.write() as session:
        org = await accounts.find_organization(session, name=organization)
        if org is None:
            org = await accounts.create_organization(session, name=organization, now=now)
        user = await accounts.create_user(
            session, organization_id=org.id, email=email, name=name, role=role, now=now
        )
        _, key = await accounts.create_api_key(session, user_id=user.id, name="initial", now=now)
    return Created(organization_id=org.id, user_id=user.id, key=key)


async def create_key(db: Database, *, email: str, name: str) -> str:
    async with db.write() as session:
        user = await accounts.find_user_by_email(session, email=email)
        _, key = await accounts.create_api_key(session, user_id=user.id, name=name, now=utcnow())
    return key


def admin_key_path(settings: Settings) -> Path:
    return settings.data_dir / ADMIN_KEY_FILE


async def bootstrap(settings: Settings, db: Database) -> str | None:
    """On a database with no organization, create the first admin and return its key.

    The key is also written, readable by this user only, to the data folder, so that the
    `jobdeck jobs` commands on this machine work without setup."""
    async with db.read() as session:
        if await accounts.count_organizations(session):
            return None
    created = await create_account(
        db,
        organization="default",
        email="admin@localhost",
        name="Administrator",
        role=accounts.Role.ADMIN,
    )
    path = admin_key_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(created.key + "\n")
    return created.key
