"""Organizations, users and API keys. Keys are stored as a lookup prefix and a SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from jobdeck.errors import Conflict, InvalidInput, NotFound
from jobdeck.store import pages
from jobdeck.store.tables import ApiKey, Organization, User

KEY_PREFIX = "jd_"


class Role(StrEnum):
    ADMIN = "admin"  # manages the users and keys of its organization
    MEMBER = "member"  # creates and manages jobs


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from an API key on every request."""

    user_id: str
    organization_id: str
    role: Role
    key_id: str

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_id() -> str:
    return str(uuid.uuid4())


async def create_organization(session: AsyncSession, *, name: str, now: datetime) -> Organization:
    org = Organization(id=new_id(), name=name, created_at=now)
    session.add(org)
    try:
        await session.flush()
    except IntegrityError as err:
        raise Conflict(f"an organization named {name!r} exists already") from err
    return org


async def find_organization(session: AsyncSession, *, name: str) -> Organization | None:
    stmt = select(Organization).where(Organization.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def count_organizations(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(Organization.id)))).scalar_one())


async def create_user(
    session: AsyncSession,
    *,
    organization_id: str,
    email: str,
    name: str,
    role: Role,
    now: datetime,
) -> User:
    if "@" not in email:
        raise InvalidInput(f"{email!r} is not an email address")
    if await session.get(Organization, organization_id) is None:
        raise NotFound(f"organization {organization_id} not found")
    user = User(
        id=new_id(),
        organization_id=organization_id,
        email=email.lower(),
        name=name,
        role=role.value,
        created_at=now,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as err:
        raise Conflict(f"a user with email {email!r} exists already") from err
    return user


async def list_users(
    session: AsyncSession,
    *,
    organization_id: str,
    limit: int = pages.DEFAULT_PAGE,
    cursor: str | None = None,
) -> tuple[list[User], str | None]:
    """The organization's users, newest first, keyset-paginated on (created_at, id)."""
    stmt = select(User).where(User.organization_id == organization_id)
    return await pages.keyset_page(session, stmt, User, limit=limit, cursor=cursor)


async def get_user(session: AsyncSession, *, organization_id: str, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None or user.organization_id != organization_id:
        raise NotFound(f"user {user_id} not found")
    return user


async def create_api_key(
    session: AsyncSession, *, user_id: str, name: str, now: datetime
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored or shown again."""
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=new_id(),
        user_id=user_id,
        name=name,
        prefix=prefix,
        key_hash=_hash(plaintext),
        created_at=now,
    )
    session.add(key)
    await session.flush()
    return key, plaintext


async def list_api_keys(
    session: AsyncSession,
    *,
    organization_id: str,
    user_id: str | None = None,
    limit: int = pages.DEFAULT_PAGE,
    cursor: str | None = None,
) -> tuple[list[ApiKey], str | None]:
    """The organization's API keys (only `user_id`'s when given), revoked ones too,
    newest first, keyset-paginated on (created_at, id)."""
    stmt = (
        select(ApiKey)
        .join(User, User.id == ApiKey.user_id)
        .where(User.organization_id == organization_id)
    )
    if user_id is not None:
        stmt = stmt.where(ApiKey.user_id == user_id)
    return await pages.keyset_page(session, stmt, ApiKey, limit=limit, cursor=cursor)


async def revoke_api_key(
    session: AsyncSession, *, organization_id: str, key_id: str, now: datetime
) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    user = await session.get(User, key.user_id) if key else None
    if key is None or user is None or user.organization_id != organization_id:
        raise NotFound(f"API key {key_id} not found")
    key.revoked_at = key.revoked_at or now
    return key


async def valid_key_ids(session: AsyncSession, key_ids: list[str]) -> set[str]:
    """Those of `key_ids` that still exist, unrevoked, with their user."""
    if not key_ids:
        return set()
    stmt = (
        select(ApiKey.id)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.id.in_(key_ids), ApiKey.revoked_at.is_(None))
    )
    return set((await session.execute(stmt)).scalars())


async def has_active_key(session: AsyncSession, *, user_id: str) -> bool:
    """Whether the user holds an API key that is not revoked (can still act at all)."""
    stmt = select(ApiKey.id).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)).limit(1)
    return (await session.execute(stmt)).first() is not None


# Every API request authenticates: one statement built once, on the tables' own columns
# (an ORM attribute in it would send it through the ORM's execution), reading only what a
# Principal needs; it runs on a session or on a bare Core connection alike.
_KEYS: Table = ApiKey.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]
_CALLER = (
    select(
        _KEYS.c.id,
        _KEYS.c.key_hash,
        _USERS.c.id.label("user_id"),
        _USERS.c.organization_id,
        _USERS.c.role,
    )
    .join(_USERS, _USERS.c.id == _KEYS.c.user_id)
    .where(_KEYS.c.prefix == bindparam("prefix"), _KEYS.c.revoked_at.is_(None))
)


def key_prefix(key: str) -> str | None:
    """The lookup prefix of a plaintext key (`jd_<prefix>_<secret>`), None if malformed."""
    if not key.startswith(KEY_PREFIX) or key.count("_") < 2:
        return None
    return key[len(KEY_PREFIX) :].split("_", 1)[0]


async def authenticate(db: AsyncSession | AsyncConnection, *, key: str) -> Principal | None:
    """The caller behind a plaintext key, or None for a malformed, unknown or revoked key."""
    prefix = key_prefix(key)
    if prefix is None:
        return None
    row = (await db.execute(_CALLER, {"prefix": prefix})).first()
    if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
        return None
    return Principal(
        user_id=row.user_id,
        organization_id=row.organization_id,
        role=Role(row.role),
        key_id=row.id,
    )


async def find_user_by_email(session: AsyncSession, *, email: str) -> User:
    stmt = select(User).where(User.email == email.lower())
    user = (await session.execute(stmt)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user with email {email!r}")
    return user


async def principal_of_key(session: AsyncSession, *, key_id: str) -> Principal | None:
    """The caller behind an API key id (a dashboard session's), or None once the key is
    revoked or deleted."""
    stmt = (
        select(ApiKey, User)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    api_key, user = row
    return Principal(
        user_id=user.id,
        organization_id=user.organization_id,
        role=Role(user.role),
        key_id=api_key.id,
    )
