// Small DOM helpers: element builder, notices, page titles and focus for keyboard and screen-reader users.

/** Builds an element: h("button", {type: "submit", onclick}, "Send"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value") el.value = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A labelled field: the label text is the field's accessible name. */
export function field(labelText, inputAttrs = {}, tag = "input") {
  const input = h(tag, inputAttrs);
  return { label: h("label", {}, labelText, input), input };
}

/** The page heading: focused after each navigation so keyboard users start at the top. */
export function title(text) {
  return h("h1", { tabindex: "-1" }, text);
}

let noticeTimer = null;

/** Shows a short message in the live region at the top of the page. */
export function notice(text) {
  const el = document.getElementById("notice");
  if (!el) return;
  el.textContent = text;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, 8000);
}

/** Formats a time for activity lists. */
export function when(ms) {
  const d = new Date(ms);
  return d.toLocaleString(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

let errorIds = 0;

/**
 * An error line that screen readers announce. The `inputs` it is about name it in
 * `aria-describedby` and carry `aria-invalid="true"` while it shows a message (pages just set its
 * textContent; an observer keeps the inputs in step).
 */
export function errorLine(...inputs) {
  const id = `error-${++errorIds}`;
  const line = h("p", { class: "error", role: "alert", id });
  if (!inputs.length) return line;
  for (const input of inputs) input.setAttribute("aria-describedby", id);
  const sync = () => {
    const bad = line.textContent.trim() !== "";
    for (const input of inputs) {
      if (bad) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
  };
  new MutationObserver(sync).observe(line, { childList: true, characterData: true, subtree: true });
  return line;
}
