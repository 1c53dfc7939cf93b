// A tiny element builder: h("a.link", {href}, "text", child). No innerHTML anywhere, so
// job names and error messages are always text, never markup.

const SVG = "http://www.w3.org/2000/svg";

export function h(tag, props, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && !key.includes("-") && key !== "list" && key !== "form") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An icon from the inline sprite (index.html), decorative (the text beside it says what it means). */
export function icon(name, className = "icon") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const use = document.createElementNS(SVG, "use");
  // The sprite is inline in index.html: a fragment reference costs no request per icon.
  use.setAttribute("href", `#${name}`);
  svg.append(use);
  return svg;
}

/** Set text only when it changed: live updates touch the DOM as little as possible. */
export function setText(el, text) {
  const value = text ?? "";
  if (el.textContent !== value) el.textContent = value;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Save a fetched file as a download under this name (for files that need the API key,
 * which a plain link does not send). */
export function saveBlob(blob, name) {
  const href = URL.createObjectURL(blob);
  const save = h("a", { href, download: name, hidden: true });
  document.body.append(save);
  save.click();
  save.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}
