"""A Temporal server that stops answering (connections open, no bytes) costs a request a
bounded wait, JOBDECK_TEMPORAL_CALL_TIMEOUT_S, then a 503 that says what to do."""

from __future__ import annotations

import time

import httpx

from jobdeck.api.app import create_app
from tests.conftest import Stack, Tenant
from tests.helpers import create_job
from tests.proxy import FreezingProxy

STEPS = {"steps": 400, "step_seconds": 0.05}


async def test_a_frozen_temporal_gets_a_prompt_503(stack: Stack, tenant: Tenant) -> None:
    host, _, port = stack.settings.temporal_address.rpartition(":")
    async with FreezingProxy(host, int(port)).running() as proxy:
        settings = stack.settings.model_copy(
            update={"temporal_address": proxy.address, "temporal_call_timeout_s": 2.0}
        )
        app = create_app(settings, registry=stack.registry)  # its own lazy client, via proxy
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://jobdeck.test",
                headers={"Authorization": f"Bearer {tenant.account.key}"},
            ) as api,
        ):
            running = await create_job(api, name="before the freeze", data=STEPS)

            proxy.freeze()
            began = time.monotonic()
            response = await api.post(
                "/api/jobs", json={"type": "test-steps", "name": "during", "data": STEPS}
            )
            assert response.status_code == 503, response.text
            assert "unreachable" in response.json()["detail"]
            assert time.monotonic() - began < 5

            began = time.monotonic()
            response = await api.patch(f"/api/jobs/{running['id']}/cancel")
            assert response.status_code == 503, response.text
            assert time.monotonic() - began < 5

            proxy.thaw()
            cancelled = await api.patch(f"/api/jobs/{running['id']}/cancel")
            assert cancelled.status_code == 202, cancelled.text
