// The details pane of a log row: every field of its entry with its filter snippet (times in
// words too), the events of a connection row, and payload hex dumps.

import { bytes, clock, dateTime, duration, eventOf, kflLiteral } from "./format.js";

/** Fields whose value is a time in ms since the epoch, or a duration in ms. */
const TIMES = new Set(["timestamp"]);
const DURATIONS = new Set(["elapsedTime"]);

/** A field's value as a person reads it. */
function shownValue(path, value) {
  if (Array.isArray(value)) return value.join(", ");
  if (TIMES.has(path) && typeof value === "number") return `${dateTime(value)} = ${value}`;
  if (DURATIONS.has(path) && typeof value === "number") return `${duration(value)} = ${value}`;
  return String(value);
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED = new Set(["and", "or", "not", "in", "true", "false", "null", "nil"]);

/** The KFL path of key inside prefix: a.b, or a["app.kubernetes.io/name"] for a label key. */
function child(prefix, key) {
  if (!prefix) return key;
  return NAME.test(key) && !RESERVED.has(key) ? `${prefix}.${key}` : `${prefix}[${JSON.stringify(key)}]`;
}

/** [KFL path, value] for every leaf of a wire entry (lists stay whole). */
export function flatten(value, prefix = "") {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([key, inner]) => flatten(inner, child(prefix, key)));
  }
  return [[prefix, value]];
}

/** A hex dump with offsets and ASCII of base64 text: 16 bytes per line. */
export function hexDump(base64) {
  const raw = atob(base64);
  const lines = [];
  for (let offset = 0; offset < raw.length; offset += 16) {
    const chunk = raw.slice(offset, offset + 16);
    const hex = [...chunk].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join(" ");
    const ascii = [...chunk].map((c) => (c.charCodeAt(0) >= 32 && c.charCodeAt(0) < 127 ? c : ".")).join("");
    lines.push(`${offset.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join("\n");
}

export class DetailsPane {
  /** element: the pane; onFilter(field, value) when a snippet is clicked; onClose() on × or Escape. */
  constructor(element, onFilter, onClose) {
    this.el = element;
    this.onFilter = onFilter;
    this.onClose = onClose;
    element.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      onClose();
    });
  }

  /** Move the keyboard focus into the pane (its first control is next with Tab). */
  focus() {
    if (!this.el.hidden) this.el.focus();
  }

  /** Show one log row ({entry, events}), or hide the pane for null. */
  show(row) {
    if (row === null) {
      this.el.hidden = true;
      this.shown = null;
      return;
    }
    const entry = row.entry;
    this.shown = { key: row.key, events: row.events.length, entry: entry.id };
    const title = document.createElement("div");
    title.className = "details-title";
    const close = Object.assign(document.createElement("button"), { type: "button", textContent: "×", title: "close (Esc)" });
    close.addEventListener("click", () => this.onClose());
    title.append(Object.assign(document.createElement("strong"), { textContent: entry.summary }), close);
    const table = document.createElement("table");
    table.className = "fields";
    for (const [path, value] of flatten(entry)) {
      if (path.startsWith("payload.")) continue;
      const line = table.insertRow();
      line.insertCell().textContent = path;
      line.insertCell().textContent = shownValue(path, value);
      const snippet = line.insertCell();
      if (!Array.isArray(value)) {
        const button = Object.assign(document.createElement("button"), {
          type: "button", className: "snippet", textContent: `${path} == ${kflLiteral(value)}`,
        });
        button.addEventListener("click", () => this.onFilter(path, value));
        snippet.append(button);
      }
    }
    const parts = [title, table];
    if (row.events.length > 1) parts.push(...eventsTable(row.events));
    for (const direction of ["request", "response"]) {
      const data = entry.payload && entry.payload[direction];
      if (!data) continue;
      parts.push(Object.assign(document.createElement("h4"), { textContent: `${direction} payload` }));
      parts.push(Object.assign(document.createElement("pre"), { className: "hex", textContent: hexDump(data) }));
    }
    this.el.replaceChildren(...parts);
    this.el.hidden = false;
  }

  /** True when the pane shows an older state of this row (it has news since). */
  isStale(row) {
    return this.shown !== null && this.shown !== undefined && this.shown.key === row.key
      && (this.shown.events !== row.events.length || this.shown.entry !== row.entry.id);
  }
}

/** A connection's events, oldest first: when, what, bytes, duration, entry id. */
function eventsTable(events) {
  const heading = Object.assign(document.createElement("h4"), { textContent: `events of this connection (${events.length})` });
  const table = document.createElement("table");
  table.className = "events";
  for (const event of events) {
    const line = table.insertRow();
    const at = event.timestamp + (event.tcp && event.tcp.event !== "connect" ? event.elapsedTime : 0);
    line.insertCell().textContent = clock(at);
    line.insertCell().textContent = eventOf(event);
    line.insertCell().textContent = event.tcp && event.tcp.event !== "connect" ? `${bytes(event.requestSize)} / ${bytes(event.responseSize)}` : "";
    line.insertCell().textContent = event.tcp && event.tcp.event !== "connect" ? duration(event.elapsedTime) : "";
    line.insertCell().textContent = event.id;
  }
  return [heading, table];
}
