// The REST client: signed in by the session cookie (HttpOnly: never seen here), JSON in and
// out, errors as ApiError carrying the server's `detail` (a sentence a person can act on).

export class ApiError extends Error {
  constructor(status, detail, errors = []) {
    super(detail || `request failed (${status})`);
    this.status = status;
    this.detail = detail;
    this.errors = errors; // a 422's [{field, message}], for forms that show each by its field
  }
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const one of Array.isArray(value) ? value : [value]) search.append(name, String(one));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export function createApi({ onUnauthorized } = {}) {
  async function request(method, path, { params, body, signal } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path + query(params), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
        credentials: "same-origin",
      });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "the API cannot be reached; check your connection");
    }
    const payload = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const detail = payload && typeof payload.detail === "string" ? payload.detail : null;
      if (response.status === 401 && onUnauthorized) onUnauthorized(detail);
      throw new ApiError(response.status, detail, payload && Array.isArray(payload.errors) ? payload.errors : []);
    }
    return payload;
  }

  // Several parts of a page ask for these at once, and they hold for the session: one
  // request each (a failed one is asked again next time).
  const once = (load) => {
    let answer = null;
    return () => {
      answer ??= load().catch((err) => {
        answer = null;
        throw err;
      });
      return answer;
    };
  };

  return {
    send: request,
    me: once(() => request("GET", "/api/me")),
    listJobs: (params, signal) => request("GET", "/api/jobs", { params, signal }),
    stats: () => request("GET", "/api/jobs/stats"),
    types: once(() => request("GET", "/api/jobs/types")),
    job: (id) => request("GET", `/api/jobs/${encodeURIComponent(id)}`),
    events: (id, after = 0) =>
      request("GET", `/api/jobs/${encodeURIComponent(id)}/events`, {
        params: { after, limit: 1000 },
      }),
    logs: (id, after = 0) =>
      request("GET", `/api/jobs/${encodeURIComponent(id)}/logs`, {
        params: { after, limit: 1000 },
      }),
    createJob: (body) => request("POST", "/api/jobs", { body }),
    cancel: (id) => request("PATCH", `/api/jobs/${encodeURIComponent(id)}/cancel`),
    retry: (id) => request("POST", `/api/jobs/${encodeURIComponent(id)}/retry`),
    datasets: (params, signal) => request("GET", "/api/datasets", { params, signal }),
    dataset: (id) => request("GET", `/api/datasets/${encodeURIComponent(id)}`),
    validateDataset: (id, body) =>
      request("POST", `/api/datasets/${encodeURIComponent(id)}/validate`, { body: body || {} }),
    providers: () => request("GET", "/api/fine-tuning/providers"),
    fineTunes: () => request("GET", "/api/fine-tuning/jobs"),
    fineTune: (id) => request("GET", `/api/fine-tuning/jobs/${encodeURIComponent(id)}`),
    startFineTune: (body) => request("POST", "/api/fine-tuning/jobs", { body }),
    models: () => request("GET", "/api/models"),
    model: (id) => request("GET", `/api/models/${encodeURIComponent(id)}`),
    publishModel: (id, body) => request("POST", `/api/models/${encodeURIComponent(id)}/publish`, { body }),
    uploadDataset: (file, name, onProgress, format = "") => upload(file, name, onProgress, format),
    download: (id) => fileBlob(`/api/datasets/${encodeURIComponent(id)}/download`),
    /** One of the API's file URLs (a model's adapter files), as a blob: they need the session. */
    file: (url) => fileBlob(url),
  };
}

async function fileBlob(url) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin" });
  } catch {
    throw new ApiError(0, "the API cannot be reached; check your connection");
  }
  if (!response.ok) {
    const payload = await response.json().catch(() => null);
    throw new ApiError(response.status, payload && typeof payload.detail === "string" ? payload.detail : null);
  }
  return response.blob();
}

/** POST a multipart form with upload progress (which fetch cannot report): the response's
 * JSON, or an ApiError with the API's `detail`. */
export function sendForm(path, form, onProgress, size) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : size);
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body && typeof body.detail === "string" ? body.detail : null));
    };
    xhr.onerror = () => reject(new ApiError(0, "the API cannot be reached; check your connection"));
    xhr.send(form);
  });
}

/** POST /api/datasets: one file, with its name and format if given. */
function upload(file, name, onProgress, format = "") {
  const form = new FormData();
  if (name) form.append("name", name);
  if (format) form.append("format", format);
  form.append("file", file);
  return sendForm("/api/datasets", form, onProgress, file.size);
}

/** Sign in: trade the key for the session cookie (POST /api/session); answers /api/me's body. */
export async function createSession(key) {
  return createApi().send("POST", "/api/session", { body: { key } });
}

/** The session's caller, or null when this browser has none (GET /api/session: 204). */
export async function currentSession() {
  return createApi().send("GET", "/api/session");
}

/** Sign out: the cookie is cleared, for every tab of this browser. */
export async function endSession() {
  return createApi().send("DELETE", "/api/session");
}
