"""The caller, the organization's users and API keys (admins manage users and keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from jobdeck.api.deps import AdminUser, CurrentUser, RuntimeDep
from jobdeck.api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    ApiKeysPublic,
    Me,
    UserCreate,
    UserPublic,
    UsersPublic,
)
from jobdeck.api.views import key_public, user_public
from jobdeck.clock import utcnow
from jobdeck.errors import NotFound
from jobdeck.store import accounts, pages

router = APIRouter(prefix="/api", tags=["accounts"])


@router.get("/me", response_model=Me)
async def me(principal: CurrentUser) -> Me:
    """Who the API key belongs to."""
    return Me(
        user_id=principal.user_id, organization_id=principal.organization_id, role=principal.role
    )


@router.get("/users", response_model=UsersPublic)
async def list_users(
    runtime: RuntimeDep,
    admin: AdminUser,
    limit: Annotated[int, Query(ge=1, le=pages.MAX_PAGE)] = pages.DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> UsersPublic:
    """The organization's users (admins only), newest first, paginated by cursor."""
    async with runtime.db.read() as session:
        users, next_cursor = await accounts.list_users(
            session, organization_id=admin.organization_id, limit=limit, cursor=cursor
        )
    return UsersPublic(data=[user_public(u) for u in users], next_cursor=next_cursor)


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserPublic)
async def create_user(body: UserCreate, runtime: RuntimeDep, admin: AdminUser) -> UserPublic:
    """Add a user to the organization (admins only)."""
    async with runtime.db.write() as session:
        user = await accounts.create_user(
            session,
            organization_id=admin.organization_id,
            email=body.email,
            name=body.name,
            role=body.role,
            now=utcnow(),
        )
    return user_public(user)


@router.get("/keys", response_model=ApiKeysPublic)
async def list_keys(
    runtime: RuntimeDep,
    principal: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=pages.MAX_PAGE)] = pages.DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ApiKeysPublic:
    """API keys: all of the organization's for an admin, one's own for a member; newest
    first, paginated by cursor."""
    async with runtime.db.read() as session:
        keys, next_cursor = await accounts.list_api_keys(
            session,
            organization_id=principal.organization_id,
            user_id=None if principal.is_admin else principal.user_id,
            limit=limit,
            cursor=cursor,
        )
    return ApiKeysPublic(data=[key_public(k) for k in keys], next_cursor=next_cursor)


@router.post("/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_key(
    body: ApiKeyCreate, runtime: RuntimeDep, principal: CurrentUser
) -> ApiKeyCreated:
    """Create an API key for oneself, or (admins) for a user of the organization."""
    user_id = body.user_id or principal.user_id
    if user_id != principal.user_id and not principal.is_admin:
        raise NotFound(f"user {user_id} not found")
    async with runtime.db.write() as session:
        await accounts.get_user(session, organization_id=principal.organization_id, user_id=user_id)
        key, plaintext = await accounts.create_api_key(
            session, user_id=user_id, name=body.name, now=utcnow()
        )
    return ApiKeyCreated(**key_public(key).model_dump(), key=plaintext)


@router.delete("/keys/{key_id}", response_model=ApiKeyPublic)
async def revoke_key(key_id: str, runtime: RuntimeDep, principal: CurrentUser) -> ApiKeyPublic:
    """Revoke an API key: one's own, or (admins) any of the organization."""
    async with runtime.db.write() as session:
        key = await accounts.revoke_api_key(
            session, organization_id=principal.organization_id, key_id=key_id, now=utcnow()
        )
        if key.user_id != principal.user_id and not principal.is_admin:
            raise NotFound(f"API key {key_id} not found")
    return key_public(key)
