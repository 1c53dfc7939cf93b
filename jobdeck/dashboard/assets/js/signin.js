// Sign in with an API key, kept in sessionStorage: it lasts while the tab is open and is
// gone when it closes. The key is checked with GET /api/me before it is kept.

import { checkKey } from "./api.js";
import { h, setText } from "./dom.js";

const KEY = "jobdeck.apiKey";

export function storedKey() {
  return sessionStorage.getItem(KEY);
}

export function keepKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
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
      "Use a key from `jobdeck admin create-key`, or the admin key that `jobdeck up` saved in data/admin-key. It is kept for this browser tab only.",
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
      const me = await checkKey(key);
      keepKey(key);
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
