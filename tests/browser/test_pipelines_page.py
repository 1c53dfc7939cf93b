"""The pipelines page and a run's page: a spec the API refuses shows each problem beside
the editor by step and field; a valid one (YAML) is saved, versioned, run from a form made
of its inputs, and archived; the run's page draws its steps as a graph that follows the
feed; an approval is decided from the page; a failed step shows its error; skipped steps
say why; every step colour is readable in light and dark mode."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import Server
from tests.browser.test_new_user_issues import contrast
from tests.conftest import Tenant
from tests.pipelines.helpers import run_to_end, save, start, steps_of
from tests.pipelines.test_steps import APPROVAL

pytestmark = pytest.mark.browser

INVALID = """{
  "steps": [
    {"id": "a", "kind": "transform", "expression": "@", "dependsOn": ["nope"]},
    {"id": "b", "kind": "job", "jobType": "no-such-type"}
  ]
}"""

# YAML, as the editor takes it: a transform, a child job that takes a few seconds (so its
# node is seen running, then completed), and a step reading both.
VALID = """inputs:
  rows: {type: array}
  label: {type: string, default: rows}
steps:
  - {id: count, kind: transform, expression: "length(@)", input: "${inputs.rows}"}
  - id: slow
    kind: job
    jobType: test-steps
    data: {steps: 15, step_seconds: 0.2}
  - id: report
    kind: transform
    expression: "{n: n, label: label}"
    input: {n: "${steps.count.output}", label: "${inputs.label}"}
    dependsOn: [slow]
outputs:
  report: ${steps.report.output}
"""


def node(page: Page, step: str) -> Locator:
    return page.locator(f'.dag-node[data-step="{step}"]')


async def open_pipelines(page: Page) -> None:
    await (
        page.get_by_role("navigation", name="Sections")
        .get_by_role("link", name="Pipelines")
        .click()
    )
    await expect(page.get_by_role("heading", level=1, name="Pipelines")).to_be_visible()


async def test_an_invalid_spec_is_explained_and_a_valid_one_saved_versioned_run_and_archived(
    page: Page, tenant: Tenant, server: Server, allowed_console: list[str]
) -> None:
    allowed_console.append("422")  # the refused save, as the browser logs it
    await open_pipelines(page)
    await expect(page.get_by_text("No pipelines yet.")).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("etl")
    spec = page.get_by_label("Spec (JSON or YAML)")
    await spec.fill(INVALID)
    await page.get_by_role("button", name="Save pipeline").click()

    problems = page.get_by_role("list", name="Problems")
    first = problems.locator('li[data-field="steps.a.dependsOn"]')
    await expect(first).to_contain_text("Step a · dependsOn")
    await expect(first).to_contain_text("unknown step 'nope'")
    second = problems.locator('li[data-field="steps.b.jobType"]')
    await expect(second).to_contain_text("Step b · jobType")
    await expect(second).to_contain_text("unknown job type 'no-such-type'")
    await expect(spec).to_have_attribute("aria-invalid", "true")
    assert (await tenant.api.get("/api/pipelines?archived=true")).json()["data"] == []
    # The problem leads to its step in the text.
    await second.get_by_role("button", name="Show step b in the editor").click()
    await expect(spec).to_be_focused()
    selected = await spec.evaluate("(t) => t.value.slice(t.selectionStart, t.selectionEnd)")
    assert selected == '"id": "b"', selected

    await spec.fill(VALID)
    await page.get_by_role("button", name="Save pipeline").click()
    await expect(page.get_by_role("heading", name="Pipeline “etl”")).to_be_visible()
    (pipeline,) = (await tenant.api.get("/api/pipelines")).json()["data"]
    assert page.url.endswith(f"/pipelines/{pipeline['id']}")
    row = page.get_by_role("row").filter(has_text="etl")
    await expect(row).to_contain_text("v1")
    await expect(row).to_contain_text("active")
    await expect(problems.locator("li")).to_have_count(0)

    # A new version from the editor (it opens on the latest).
    await expect(spec).to_have_value(re.compile('"id": "count"'))
    edited = (await spec.input_value()).replace('"step_seconds": 0.2', '"step_seconds": 0.3')
    await spec.fill(edited)
    await page.get_by_role("button", name="Save new version").click()
    await expect(page.locator(".pl-versions li")).to_have_count(2)
    await expect(row).to_contain_text("v2")
    versions = (await tenant.api.get(f"/api/pipelines/{pipeline['id']}/versions")).json()["data"]
    assert versions[0]["spec"]["steps"][1]["data"]["step_seconds"] == 0.3

    # Run: the form is made from the typed inputs; a required one is marked.
    rows = page.get_by_label("Rows *")
    await expect(rows).to_have_value("")
    await expect(page.get_by_label("Label", exact=True)).to_have_value("rows")
    await rows.fill("[1, 2, 3]")
    await page.get_by_role("button", name="Run", exact=True).click()
    await expect(page.get_by_role("heading", name="Pipeline steps")).to_be_visible()
    run_id = page.url.rsplit("/", 1)[1]

    # The graph: three nodes, two edges (slow -> report by dependsOn, count -> report by
    # its reference), the child job seen running with a spinner, then completed, live.
    await expect(page.locator(".dag-node")).to_have_count(3)
    edges = page.locator("path.dag-edge")
    await expect(edges).to_have_count(2)
    assert {
        (await e.get_attribute("data-from"), await e.get_attribute("data-to"))
        for e in await edges.all()
    } == {("slow", "report"), ("count", "report")}
    slow = node(page, "slow")
    await expect(slow).to_have_attribute("data-status", "running")
    await expect(slow.locator(".icon.spin")).to_have_count(1)
    await expect(slow).to_have_attribute("data-status", "completed", timeout=30_000)
    await expect(node(page, "report")).to_have_attribute("data-status", "completed")
    await expect(slow.locator(".icon.spin")).to_have_count(0)
    done = await run_to_end(tenant.api, run_id)
    assert done["status"] == "completed" and done["data"]["version"] == 2

    # A step's input (resolved) and output; a job step links to its child job.
    await node(page, "report").click()
    detail = page.locator(".step-detail")
    await expect(detail.get_by_role("heading", level=3)).to_contain_text("report")
    await expect(detail.get_by_label("Input of report")).to_contain_text('"n": 3')
    await expect(detail.get_by_label("Output of report")).to_contain_text('"label": "rows"')
    await node(page, "slow").click()
    await detail.get_by_role("link", name="the child job").click()
    child = (await steps_of(tenant.api, run_id))["slow"]["childJobId"]
    await expect(page).to_have_url(re.compile(f"/jobs/{child}$"))

    # Archive: it leaves the list (the archived view still shows it, marked).
    await open_pipelines(page)
    await page.get_by_role("button", name="Archive etl").click()
    await page.get_by_role("button", name="Archive it").click()
    await expect(page.get_by_text("No pipelines yet.")).to_be_visible()
    await page.get_by_label("Show archived").check()
    await expect(page.get_by_role("row").filter(has_text="etl")).to_contain_text("archived")
    assert (await tenant.api.get(f"/api/pipelines/{pipeline['id']}")).json()["archived"] is True
    # Its page is a deep link: loaded afresh, it says it is archived and runs nothing.
    await page.goto(f"{server.url}/pipelines/{pipeline['id']}")
    await expect(page.get_by_text("Archived: it starts no runs.")).to_be_visible()
    await expect(page.get_by_role("button", name="Run", exact=True)).to_be_disabled()


async def test_an_approval_is_decided_from_the_runs_page(
    page: Page, tenant: Tenant, server: Server
) -> None:
    pipeline = await save(tenant.api, "ship", APPROVAL)
    run = await start(tenant.api, pipeline["id"])
    await page.goto(f"{server.url}/jobs/{run['id']}")
    ok = node(page, "ok")
    await expect(ok).to_have_attribute("data-status", "waiting")
    await expect(ok).to_contain_text("Waiting for approval")
    await expect(node(page, "after")).to_have_attribute("data-status", "pending")
    # The waiting step is shown without a click, with its message and the decision.
    decide = page.get_by_role("group", name="Decide ok")
    await expect(decide).to_contain_text("Ship it?")
    await decide.get_by_label("Note (optional)").fill("looks good")
    await decide.get_by_role("button", name="Approve").click()
    await expect(ok).to_have_attribute("data-status", "completed")
    await expect(node(page, "after")).to_have_attribute("data-status", "completed")
    await expect(page.locator(".detail-badge")).to_contain_text("Completed")
    done = await run_to_end(tenant.api, run["id"])
    assert done["result"] == {"decision": "approved", "after": "shipped"}
    output = (await steps_of(tenant.api, run["id"]))["ok"]["output"]
    assert output == {"decision": "approved", "by": tenant.account.user_id, "note": "looks good"}
    await expect(page.get_by_role("group", name="Decide ok")).to_have_count(0)


FAILING: dict[str, Any] = {
    "steps": [
        {"id": "first", "kind": "transform", "expression": "`5`"},
        {
            "id": "bad",
            "kind": "transform",
            "expression": "length(@)",
            "input": "${steps.first.output}",
        },
        {"id": "after", "kind": "transform", "expression": "`1`", "dependsOn": ["bad"]},
        {"id": "never", "kind": "transform", "expression": "`1`", "if": "`false`"},
    ]
}


async def test_a_failed_step_shows_its_error_and_skipped_ones_their_reason(
    page: Page, tenant: Tenant, server: Server, allowed_console: list[str]
) -> None:
    pipeline = await save(tenant.api, "breaks", FAILING)
    run = await run_to_end(tenant.api, (await start(tenant.api, pipeline["id"]))["id"])
    assert run["status"] == "failed"
    await page.goto(f"{server.url}/jobs/{run['id']}")
    bad = node(page, "bad")
    await expect(bad).to_have_attribute("data-status", "failed")
    await expect(node(page, "after")).to_contain_text("Cancelled: the run failed")
    await expect(node(page, "never")).to_contain_text("Skipped: condition '`false`' is false")
    # The failed step is shown without a click: its error, and what it read.
    error = page.get_by_role("group", name="Step error")
    await expect(error).to_contain_text("InvalidExpression")
    await expect(error).to_contain_text("length()")
    await expect(page.get_by_label("Input of bad")).to_contain_text('"input": 5')
    await expect(bad).to_have_attribute("aria-pressed", "true")

    # Keyboard: Tab walks the nodes; Enter shows the focused one.
    await node(page, "first").focus()
    await page.keyboard.press("Tab")
    focused = await page.evaluate("() => document.activeElement.dataset.step")
    assert focused in {"never", "bad"}, focused
    await page.keyboard.press("Enter")
    await expect(node(page, focused)).to_have_attribute("aria-pressed", "true")
    await expect(page.locator(".step-detail h3")).to_contain_text(focused)

    # Rerun from the failed step: a new run, linked to this one.
    await bad.click()
    await page.get_by_role("button", name="Rerun from this step").click()
    await page.get_by_role("link", name="View the new run").click()
    await expect(page.get_by_role("heading", name="Pipeline steps")).to_be_visible()
    rerun_id = page.url.rsplit("/", 1)[1]
    rerun = (await tenant.api.get(f"/api/jobs/{rerun_id}")).json()
    assert rerun["retryOf"] == run["id"] and rerun["data"]["fromStep"] == "bad"
    await expect(node(page, "first")).to_contain_text("Completed")
    await expect(page.locator(".dag-pipeline")).to_contain_text("rerun from bad")


COLOURS = """async () => {
  const { stepNode, STEP_STATUSES } = await import("/assets/js/pipeline-graph.js");
  const box = document.createElement("div");
  box.className = "dag";
  const canvas = document.createElement("div");
  canvas.className = "dag-canvas";
  box.append(canvas);
  document.querySelector("main").append(box);
  const parse = (text) => text.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const out = [];
  for (const status of STEP_STATUSES) {
    const node = stepNode({ stepId: "s", kind: "transform", status, reason: "why", dependsOn: [] });
    node.setAttribute("aria-pressed", "true");
    canvas.append(node);
    const paper = getComputedStyle(node).backgroundColor;
    const parts = [".dag-node-name", ".dag-node-status"].map((c) => node.querySelector(c));
    for (const part of parts)
      out.push({ status, what: part.className, ink: parse(getComputedStyle(part).color),
                 paper: parse(paper), alpha: paper.startsWith("rgba") ? paper : "" });
  }
  box.remove();
  return out;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_every_step_status_is_readable(page: Page, scheme: str) -> None:
    await page.emulate_media(color_scheme=scheme)
    found = await page.evaluate(COLOURS)
    assert {f["status"] for f in found} == {
        "pending",
        "running",
        "waiting",
        "completed",
        "failed",
        "skipped",
        "cancelled",
    }
    for f in found:
        assert not f["alpha"], f
        ratio = contrast(f["ink"], f["paper"])
        assert ratio >= 4.5, f"{f['status']} {f['what']}: {ratio:.2f}:1 in {scheme} mode"
