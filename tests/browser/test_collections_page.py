"""The collections pages (issue 13): create a collection, upload documents, process them
with the documents table filling live, search with hits showing their page; a refused
upload shows the API's reason; the document statuses are readable in both schemes."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import FilePayload, Page, expect

from tests.browser.test_new_user_issues import contrast
from tests.conftest import Tenant

pytestmark = pytest.mark.browser

RIVERS = "The Danube flows through ten countries on its way to the Black Sea. " * 30
PEAKS = "# Alps\n\nMont Blanc is the highest peak of the Alps.\n\n" * 15

# The colour of each document status as drawn in the documents table, and the colour of
# what it is drawn on (the first ancestor with a background).
STATUS_COLOURS = """() => {
  const parse = (text) => text.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const cell = document.querySelector("table.documents tbody td");
  const out = [];
  for (const status of ["pending", "succeeded", "partial", "needs_ocr", "failed", "skipped"]) {
    const span = document.createElement("span");
    span.className = `doc-status doc-status-${status}`;
    span.textContent = status;
    cell.append(span);
    let paper = "rgba(0, 0, 0, 0)";
    for (let el = span; el && paper.startsWith("rgba(0, 0, 0, 0)"); el = el.parentElement)
      paper = getComputedStyle(el).backgroundColor;
    out.push({ status, ink: parse(getComputedStyle(span).color), paper: parse(paper) });
    span.remove();
  }
  return out;
}"""


async def test_create_upload_process_live_and_search(
    page: Page, tenant: Tenant, allowed_console: list[str]
) -> None:
    allowed_console.append("422")  # the refused upload, as the browser logs it
    await (
        page.get_by_role("navigation", name="Sections")
        .get_by_role("link", name="Collections")
        .click()
    )
    await expect(page.get_by_role("heading", level=1, name="Collections")).to_be_visible()
    await expect(page.get_by_text("No collections yet.")).to_be_visible()

    await page.get_by_label("Name", exact=True).fill("geography")
    await expect(page.get_by_label("Embedding model")).to_have_attribute(
        "placeholder", "default: all-MiniLM-L6-v2"
    )
    await page.get_by_label("Tokens per chunk").fill("128")
    await page.get_by_label("Overlap (tokens)").fill("16")
    await page.get_by_role("button", name="Create collection").click()
    await expect(page.get_by_role("heading", level=1, name="geography")).to_be_visible()
    [collection] = (await tenant.api.get("/api/collections")).json()["data"]
    assert collection["chunking"] == {"maxTokens": 128, "overlap": 16}
    await expect(page).to_have_url(re.compile(f"/collections/{collection['id']}$"))
    details = page.get_by_role("region", name="Details")
    await expect(details).to_contain_text("local · all-MiniLM-L6-v2")
    await expect(details).to_contain_text("128 tokens, 16 overlap")

    files = page.get_by_label(re.compile(r"^Files \(PDF"))
    # Refused by the API (nothing stored): its reason is shown as it gave it.
    await files.set_input_files({"name": "empty.txt", "mimeType": "text/plain", "buffer": b""})
    await page.get_by_role("button", name="Upload", exact=True).click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Upload failed: 'empty.txt' is empty (0 bytes)"
    )
    await expect(page.get_by_text("No documents yet.")).to_be_visible()

    two: list[FilePayload] = [
        {"name": "rivers.txt", "mimeType": "text/plain", "buffer": RIVERS.encode()},
        {"name": "peaks.md", "mimeType": "text/markdown", "buffer": PEAKS.encode()},
    ]
    await files.set_input_files(two)
    await page.get_by_role("button", name="Upload", exact=True).click()
    await expect(page.get_by_role("progressbar", name="Upload progress")).to_have_attribute(
        "aria-valuenow", "100"
    )
    await expect(page.get_by_role("alert")).to_be_hidden()
    table = page.get_by_role("table", name=re.compile("documents"))
    rivers = table.get_by_role("row").filter(has_text="rivers.txt")
    peaks = table.get_by_role("row").filter(has_text="peaks.md")
    await expect(rivers).to_contain_text("Pending")
    await expect(peaks).to_contain_text("Pending")

    # Filled live: the page is never reloaded (the marker would be gone).
    await page.evaluate("() => { window.notReloaded = true; }")
    await page.get_by_role("button", name="Process documents").click()
    processing = page.get_by_role("region", name="Processing")
    await expect(processing.get_by_text("Completed")).to_be_visible(timeout=60_000)
    await expect(rivers).to_contain_text("Succeeded")
    await expect(peaks).to_contain_text("Succeeded")
    await expect(processing.get_by_role("link", name="View the processing job")).to_be_visible()
    assert await page.evaluate("() => window.notReloaded === true")
    docs = (await tenant.api.get(f"/api/collections/{collection['id']}/documents")).json()["data"]
    assert {d["filename"]: d["status"] for d in docs} == {
        "rivers.txt": "succeeded",
        "peaks.md": "succeeded",
    }
    by_name = {d["filename"]: d for d in docs}
    cells = rivers.get_by_role("cell")
    await expect(cells.nth(3)).to_have_text(str(by_name["rivers.txt"]["pages"]))
    await expect(cells.nth(4)).to_have_text(str(by_name["rivers.txt"]["chunks"]))

    search = page.get_by_role("region", name="Search")
    await search.get_by_label("Query").fill("Which river flows through ten countries?")
    await search.get_by_role("button", name="Search").click()
    hits = search.get_by_role("list", name="Search hits").get_by_role("listitem")
    await expect(hits.first).to_contain_text("rivers.txt")
    await expect(hits.first).to_contain_text("page 1")
    await expect(hits.first).to_contain_text("Danube")
    await expect(hits.first).to_contain_text(re.compile(r"score 0\.\d{3}"))

    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        for chip in await page.evaluate(STATUS_COLOURS):
            ratio = contrast(chip["ink"], chip["paper"])
            assert ratio >= 4.5, f"{chip['status']}: {ratio:.2f}:1 in {scheme} mode"

    await page.get_by_role("link", name="← All collections").click()
    listed = page.get_by_role("row").filter(has=page.get_by_role("link", name="geography"))
    await expect(listed).to_contain_text("128 tokens, 16 overlap")
    await expect(listed).to_contain_text("384 dimensions")


async def test_a_duplicate_name_shows_the_apis_reason(
    page: Page, tenant: Tenant, allowed_console: list[str]
) -> None:
    allowed_console.append("409")  # the refused create, as the browser logs it
    created = await tenant.api.post("/api/collections", json={"name": "manuals"})
    assert created.status_code == 201, created.text
    await page.goto(page.url.rstrip("/") + "/collections")
    await expect(page.get_by_role("row").filter(has_text="manuals")).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("manuals")
    await page.get_by_role("button", name="Create collection").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Could not create the collection: a collection named 'manuals' exists already; "
        "pick another name"
    )
    assert len((await tenant.api.get("/api/collections")).json()["data"]) == 1


async def test_a_datasets_rows_processed_from_the_page(
    page: Page, tenant: Tenant, allowed_console: list[str]
) -> None:
    allowed_console.append("422")  # the refused column, as the browser logs it
    created = await tenant.api.post("/api/collections", json={"name": "faq"})
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    csv = "question,answer\nWhere is the Danube?,It flows through ten countries.\n"
    uploaded = await tenant.api.post("/api/datasets", files={"file": ("faq.csv", csv.encode())})
    assert uploaded.status_code == 201, uploaded.text
    await page.goto(page.url.rstrip("/") + f"/collections/{cid}")
    rows = page.get_by_role("form", name="Or make each row of a dataset a document")
    await rows.get_by_label("Dataset").select_option(label="faq.csv (csv)")
    await rows.get_by_label("Text column").fill("text")
    await rows.get_by_role("button", name="Process the rows").click()
    await expect(rows.get_by_role("alert")).to_have_text(
        "Could not start processing: data.textColumn: dataset 'faq.csv' has no column "
        "'text'; its columns: 'question', 'answer'"
    )
    await rows.get_by_label("Text column").fill("answer")
    await rows.get_by_label("Title column (optional)").fill("question")
    await rows.get_by_role("button", name="Process the rows").click()
    await expect(rows.get_by_role("alert")).to_be_hidden()
    row = page.get_by_role("row").filter(has_text="Where is the Danube? (faq.csv row 1)")
    await expect(row).to_contain_text("Succeeded", timeout=60_000)
    processing = page.get_by_role("region", name="Processing")
    await expect(processing.get_by_text("Completed")).to_be_visible()
