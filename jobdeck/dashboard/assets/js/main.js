// The dashboard's entry point: sign-in, the client-side router (/, /jobs/<id>, /datasets,
// /datasets/<id>, /fine-tuning, /fine-tuning/<id>, /fine-tuning/models/<id>), the live indicator, toasts and the confirm dialog, and the wiring of the
// feed to the views.

import { createApi } from "./api.js";
import { DatasetsView, DatasetView } from "./datasets.js";
import { DetailView } from "./detail.js";
import { FineTuneView, FineTuningView, ModelView } from "./finetuning.js";
import { h } from "./dom.js";
import { Feed } from "./feed.js";
import { ListView } from "./listview.js";
import { forgetKey, signInView, storedKey } from "./signin.js";
import { JobStore } from "./store.js";

const main = document.getElementById("main");
const nav = document.querySelector(".mainnav");
const topbarEnd = document.querySelector(".topbar-end");
const live = document.getElementById("live");
const liveText = live.querySelector(".live-text");
const liveRetry = document.getElementById("live-retry");
const toasts = document.getElementById("toasts");
const dialog = document.getElementById("confirm");

const LIVE_TEXT = {
  connecting: "Connecting…",
  connected: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

let session = null;

function toast(text, kind = "info", link = null) {
  const close = h("button.toast-close", { type: "button", "aria-label": "Dismiss" }, "×");
  const el = h(
    `div.toast.toast-${kind}`,
    null,
    h("span", null, text),
    link ? h("a", { href: link.href, dataset: { nav: "" } }, link.text) : null,
    close,
  );
  const remove = () => el.remove();
  close.addEventListener("click", remove);
  toasts.append(el);
  setTimeout(remove, kind === "error" ? 12000 : 6000);
}

function confirmAction(title, text, okLabel) {
  dialog.querySelector("#confirm-title").textContent = title;
  dialog.querySelector("#confirm-text").textContent = text;
  dialog.querySelector("#confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

function setLive(state) {
  live.dataset.state = state;
  liveText.textContent = LIVE_TEXT[state] || state;
  live.title = state === "connected" ? "Receiving job events live" : "";
  liveRetry.hidden = state !== "offline";
}

function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

function signOut(reason) {
  forgetKey();
  if (session) {
    session.feed.stop();
    clearInterval(session.list.ticker);
    if (session.detail) session.detail.destroy();
    if (session.page) session.page.destroy();
    session = null;
  }
  showSignIn(reason);
}

function showSignIn(reason) {
  nav.hidden = true;
  topbarEnd.hidden = true;
  document.title = "Sign in · jobdeck";
  main.replaceChildren(signInView({ reason, onSignedIn: () => startSession(storedKey()) }));
}

function startSession(key) {
  const store = new JobStore();
  const api = createApi({
    key: () => key,
    onUnauthorized: () => signOut("Your API key is no longer accepted. Sign in again."),
  });
  const feed = new Feed({ key: () => key });
  const list = new ListView({ api, store, toast, confirm: confirmAction, navigate });
  session = { api, store, feed, list, detail: null, page: null, listUrl: "/" };
  // For diagnostics from the console and for bench/dashboard.py (read only).
  window.jobdeck = { feed, store };
  list.keep = () => {
    if (!session) return [];
    const ids = session.detail ? [session.detail.id] : [];
    if (session.page && session.page.validationJob) ids.push(session.page.validationJob);
    if (session.page && session.page.jobId) ids.push(session.page.jobId);
    if (session.page && session.page.publishJob) ids.push(session.page.publishJob);
    return ids;
  };

  feed.addEventListener("state", (e) => setLive(e.detail));
  feed.addEventListener("event", (e) => {
    list.event(e.detail);
    if (session.detail && session.detail.id === e.detail.jobId) session.detail.event(e.detail);
    if (session.page) session.page.event(e.detail);
  });
  feed.addEventListener("snapshot", (e) => list.snapshot(e.detail));
  feed.addEventListener("ready", (e) => {
    if (!e.detail.resumed) return;
    list.resumed();
    if (session.detail) api.job(session.detail.id).then((job) => store.put(job), () => {});
  });
  feed.addEventListener("reset", () => list.resumed());
  feed.addEventListener("unauthorized", () => signOut("Your API key is no longer accepted. Sign in again."));
  liveRetry.onclick = () => feed.reconnectNow();

  nav.hidden = false;
  topbarEnd.hidden = false;
  setLive("connecting");
  feed.start();
  list.start();
  route({ first: true });
}

function placeholder(title, lines) {
  return h(
    "div.page.page-placeholder",
    null,
    h("h1", { tabIndex: -1 }, title),
    lines.map((line) => h("p", null, line)),
    h("p", null, h("a", { href: "/", dataset: { nav: "" } }, "← Back to jobs")),
  );
}

function route({ first = false } = {}) {
  if (!session) return;
  const path = location.pathname.replace(/\/+$/, "") || "/";
  if (session.detail) {
    session.detail.destroy();
    session.detail = null;
  }
  if (session.page) {
    session.page.destroy();
    session.page = null;
  }
  let section = "jobs";
  let view;
  const match = /^\/jobs\/([^/]+)$/.exec(path);
  const datasetMatch = /^\/datasets\/([^/]+)$/.exec(path);
  if (path === "/" || path === "/jobs") {
    if (path === "/jobs") history.replaceState(null, "", `/${location.search}`);
    document.title = "Jobs · jobdeck";
    view = session.list.el;
    if (!first) session.list.shown();
  } else if (match) {
    const detail = new DetailView({
      id: decodeURIComponent(match[1]),
      api: session.api,
      store: session.store,
      toast,
      navigate,
      backHref: session.listUrl,
    });
    session.detail = detail;
    detail.start();
    view = detail.el;
  } else if (path === "/datasets" || datasetMatch) {
    section = "datasets";
    document.title = "Datasets · jobdeck";
    const options = { api: session.api, toast, store: session.store };
    session.page = datasetMatch
      ? new DatasetView({ ...options, id: decodeURIComponent(datasetMatch[1]) })
      : new DatasetsView(options);
    session.page.start();
    view = session.page.el;
  } else if (path === "/fine-tuning" || path.startsWith("/fine-tuning/")) {
    section = "fine-tuning";
    document.title = "Fine-tuning · jobdeck";
    const rest = path.slice("/fine-tuning/".length);
    const modelMatch = /^models\/([^/]+)$/.exec(rest);
    const options = { api: session.api, toast, store: session.store, navigate };
    if (path === "/fine-tuning" || rest === "models") session.page = new FineTuningView(options);
    else if (modelMatch) session.page = new ModelView({ ...options, id: decodeURIComponent(modelMatch[1]) });
    else if (!rest.includes("/")) session.page = new FineTuneView({ ...options, id: decodeURIComponent(rest) });
    if (session.page) {
      session.page.start();
      view = session.page.el;
    } else {
      section = "";
      document.title = "Not found · jobdeck";
      view = placeholder("Page not found", [`There is no dashboard page at ${path}.`]);
    }
  } else {
    section = "";
    document.title = "Not found · jobdeck";
    view = placeholder("Page not found", [`There is no dashboard page at ${path}.`]);
  }
  if (main.firstChild !== view || main.childElementCount !== 1) main.replaceChildren(view);
  for (const link of nav.querySelectorAll("a"))
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  if (!first) {
    // Move focus to the new page's heading, so a screen reader announces where we are.
    const heading = view.querySelector("h1");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
    window.scrollTo(0, 0);
  }
}

// Same-origin links marked data-nav are client-side navigations (modifier keys and
// middle clicks still open a new tab as usual).
document.addEventListener("click", (e) => {
  const link = e.target.closest("a[data-nav]");
  if (!link || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  if (session && location.pathname === "/") session.listUrl = `/${location.search}`;
  navigate(url.pathname + url.search);
});

window.addEventListener("popstate", () => route());
document.getElementById("sign-out").addEventListener("click", () => signOut());

const key = storedKey();
if (key) startSession(key);
else showSignIn();
