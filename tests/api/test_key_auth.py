"""The key lookup (accounts.authenticate, one prebuilt statement) finds the same caller on
a bare Core connection, as every API request runs it, as on an ORM session, as the
WebSocket and session logins run it, and refuses exactly the same keys."""

from __future__ import annotations

from jobdeck.clock import utcnow
from jobdeck.store import accounts
from jobdeck.store.accounts import Role, key_prefix
from tests.conftest import Stack, new_tenant


async def _both(stack: Stack, key: str) -> tuple[object, object]:
    async with stack.db.read() as session:
        by_orm = await accounts.authenticate(session, key=key)
    async with stack.db.reader_engine.connect() as conn:
        by_core = await accounts.authenticate(conn, key=key)
    return by_orm, by_core


async def test_a_valid_key_gives_the_same_caller(stack: Stack) -> None:
    for role in (Role.ADMIN, Role.MEMBER):
        account = await new_tenant(stack, role)
        by_orm, by_core = await _both(stack, account.key)
        assert by_core is not None
        assert by_core == by_orm
        assert by_core.role is role
        assert by_core.organization_id == account.organization_id


async def test_malformed_unknown_tampered_and_revoked_keys_have_no_caller(stack: Stack) -> None:
    account = await new_tenant(stack)
    refused = [
        "",
        "not-a-key",
        "jd_",
        "jd_noseparator",
        "jd_nothere_secret",
        account.key[:-4] + "AAAA",  # a real prefix, a wrong secret
        account.key.replace("jd_", "JD_", 1),
    ]
    for key in refused:
        assert await _both(stack, key) == (None, None), key

    async with stack.db.write() as session:
        caller = await accounts.authenticate(session, key=account.key)
        assert caller is not None
        await accounts.revoke_api_key(
            session, organization_id=account.organization_id, key_id=caller.key_id, now=utcnow()
        )
    assert await _both(stack, account.key) == (None, None)


def test_key_prefix_reads_the_lookup_part() -> None:
    assert key_prefix("jd_abc123_secret_with_underscores") == "abc123"
    assert key_prefix("jd_abc123_") == "abc123"
    assert key_prefix("jd_abc123") is None  # no secret part
    assert key_prefix("xx_abc123_secret") is None
