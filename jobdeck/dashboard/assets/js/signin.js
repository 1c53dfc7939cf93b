// Sign in with an API key, traded once for a session cookie (POST /api/session): HttpOnly,
// so no script here ever holds the key or the session; SameSite=Strict, so other sites
// cannot use it. Every tab of this browser shares it until sign-out (or the key's
// revocation) ends it; the tabs tell each other at once over a BroadcastChannel.

import { createSession } from "./api.js";
import { h, setText } from "./dom.js";

// Where an older dashboard kept the key (per tab): traded for a session once, then removed.
const LEGACY_KEY = "jobdeck.apiKey";

/** The key an older dashboard left in this tab, if any, now forgotten. */
export function takeLegacyKey() {
  const key = sessionStorage.getItem(LEGACY_KEY);
  sessionStorage.removeItem(LEGACY_KEY);
  return key;
}

const channel = "BroadcastChannel" in window ? new BroadcastChannel("jobdeck.session") : null;

/** Tell this browser's other tabs that the session began ("signed-in") or ended ("signed-out"). */
export function tellTabs(what) {
  if (channel) channel.postMessage(what);
}

/** Calls `listener("signed-in" | "signed-out")` when another tab signs in or out. */
export function onOtherTabs(listener) {
  if (channel) channel.addEventListener("message", (e) => listener(e.data));
}

export function signInView({ onSignedIn, reason }) {
  const input = h("input", {
    id: "api-key",
    type: "password",
    name: "api-key",
    autocomplete: "off",
    spellcheck: false,
    required: true,
    placeholder: "jd_…",
    "aria-describedby": "api-key-help",
  });
  const error = h("p.notice.notice-error", { id: "signin-error", role: "alert", hidden: !reason }, reason || "");
  const submit = h("button.btn.btn-primary", { type: "submit" }, "Sign in");
  const form = h(
    "form.signin",
    { "aria-labelledby": "signin-title", novalidate: true },
    h("h1", { id: "signin-title" }, "Sign in to jobdeck"),
    h("label", { htmlFor: "api-key" }, "API key"),
    input,
    h(
      "p.muted",
      { id: "api-key-help" },
      "Use a key from `jobdeck admin create-key`, or the admin key that `jobdeck up` saved in data/admin-key. It signs in every tab of this browser until you sign out.",
    ),
    error,
    submit,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.hidden = false;
      setText(error, "Enter an API key.");
      input.focus();
      return;
    }
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const me = await createSession(key);
      input.value = "";
      tellTabs("signed-in");
      onSignedIn(me);
    } catch (err) {
      error.hidden = false;
      setText(error, err.status === 401 ? "That API key is unknown or revoked." : `Could not sign in: ${err.message}`);
      input.select();
      input.focus();
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
  requestAnimationFrame(() => input.focus());
  return h("div.page.page-signin", null, form);
}
