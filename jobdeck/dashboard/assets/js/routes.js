// The dashboard's pages, one line each; main.js's router looks the path up here, and the
// top bar's section links are the entries with a `nav` label.
//
//   path     "/datasets/:id": a `:name` segment matches one path segment, given decoded to
//            the page as `name`; the first entry that matches wins.
//   view     loads the page's module and gives its view class (loaded when first shown).
//   section  the top bar's section it highlights.
//   nav      the label of that section's link, on the one entry the link goes to.
//   title    the document's title until the page sets a more precise one.
//   redirect instead of a page: the path to show (the query string is kept).
//
// A page is `new View({...context, ...params})`, where the context has api, store, feed,
// list (the session's jobs list), toast, confirm, navigate, listUrl (the jobs list's last
// URL) and first (the session's first page). It has `el` (shown in <main>), start(),
// destroy(), event(feedEvent) for every live event, and may have jobIds() (the jobs it
// follows, which the store keeps) and resumed() (the feed is back after a gap).

export const ROUTES = [
  { path: "/", section: "jobs", nav: "Jobs", title: "Jobs", view: () => import("./listview.js").then((m) => m.JobsPage) },
  { path: "/jobs", redirect: "/" },
  { path: "/jobs/:id", section: "jobs", view: () => import("./detail.js").then((m) => m.DetailView) },
  { path: "/datasets", section: "datasets", nav: "Datasets", title: "Datasets", view: () => import("./datasets.js").then((m) => m.DatasetsView) },
  { path: "/datasets/:id", section: "datasets", title: "Datasets", view: () => import("./datasets.js").then((m) => m.DatasetView) },
  { path: "/collections", section: "collections", nav: "Collections", title: "Collections", view: () => import("./collections.js").then((m) => m.CollectionsView) },
  { path: "/collections/:id", section: "collections", title: "Collections", view: () => import("./collection.js").then((m) => m.CollectionView) },
  { path: "/fine-tuning", section: "fine-tuning", nav: "Fine-tuning", title: "Fine-tuning", view: () => import("./fine-tuning-list.js").then((m) => m.FineTuningView) },
  { path: "/fine-tuning/models", section: "fine-tuning", title: "Fine-tuning", view: () => import("./fine-tuning-list.js").then((m) => m.FineTuningView) },
  { path: "/fine-tuning/models/:id", section: "fine-tuning", title: "Fine-tuning", view: () => import("./model-detail.js").then((m) => m.ModelView) },
  { path: "/fine-tuning/:id", section: "fine-tuning", title: "Fine-tuning", view: () => import("./fine-tuning-detail.js").then((m) => m.FineTuneView) },
  { path: "/pipelines", section: "pipelines", nav: "Pipelines", title: "Pipelines", view: () => import("./pipelines.js").then((m) => m.PipelinesView) },
  { path: "/pipelines/:id", section: "pipelines", title: "Pipelines", view: () => import("./pipelines.js").then((m) => m.PipelinesView) },
  { path: "/schedules", section: "schedules", nav: "Schedules", title: "Schedules", view: () => import("./schedules.js").then((m) => m.SchedulesView) },
  { path: "/notifications", section: "notifications", nav: "Notifications", title: "Notifications", view: () => import("./notifications.js").then((m) => m.NotificationsView) },
  { path: "/new-job", section: "jobs", title: "New job", view: () => import("./new-job.js").then((m) => m.NewJobView) },
  { path: "/operations", section: "operations", nav: "Operations", title: "Operations", view: () => import("./operations.js").then((m) => m.OperationsView) },
];

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const compiled = ROUTES.map((route) => {
  const names = [];
  const source = route.path
    .split("/")
    .map((segment) => (segment.startsWith(":") ? (names.push(segment.slice(1)), "([^/]+)") : escape(segment)))
    .join("/");
  return { route, names, pattern: new RegExp(`^${source}$`) };
});

/** The route of a path (without its trailing slash) and the path's parameters, or null. */
export function match(path) {
  for (const { route, names, pattern } of compiled) {
    const found = pattern.exec(path);
    if (!found) continue;
    try {
      return { route, params: Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(found[i + 1])])) };
    } catch {
      return null; // a malformed %-escape: no such page
    }
  }
  return null;
}
