// The filter box: validate as you type, show the error span, apply on Enter, ?q= in the URL,
// presets, history and autocomplete of field names. With the keyboard, arrows in the preset and
// history lists only choose (Enter applies), so passing over an entry does not apply it.

import { kflLiteral } from "./format.js";

const VALIDATE_DELAY_MS = 250;
const HISTORY_KEY = "podscope.history";
const HISTORY_SIZE = 20;
const MAX_SUGGESTIONS = 8;
/** Keys that move a closed list's choice (and fire its change event at once). */
const CHOOSING_KEYS = new Set(["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown"]);

export const PRESETS = [
  ["Cluster → external", 'dst.namespace == ""'],
  ["Failing connections", 'tcp.event == "reset" or tcp.event == "refused" or tcp.event == "timeout" or icmp'],
  [
    "Between two namespaces",
    '(src.namespace == "shop" and dst.namespace == "payments") or (src.namespace == "payments" and dst.namespace == "shop")',
  ],
  ["DNS answers", "dns"],
  ["TCP only", "tcp"],
  ["Everything", ""],
];

/** Character offset of a 1-based (line, column) position in text. */
function offsetOf(text, line, column) {
  const lines = text.split("\n");
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i += 1) offset += lines[i].length + 1;
  return Math.min(text.length, offset + column - 1);
}

/** The identifier being typed at the caret: [start, prefix]. */
function wordAt(text, caret) {
  const match = /[A-Za-z_][\w.]*$/.exec(text.slice(0, caret));
  return match === null ? [caret, ""] : [match.index, match[0]];
}

function loadHistory() {
  try {
    const items = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
    return Array.isArray(items) ? items.filter((q) => typeof q === "string") : [];
  } catch {
    return [];
  }
}

export class FilterBox {
  /** elements: {input, apply, presets, history, state, error, suggest}; onApply(query). */
  constructor(elements, onApply) {
    this.el = elements;
    this.onApply = onApply;
    this.timer = null;
    this.validated = 0;
    this.completions = [];
    this.applied = "";
    this.defaultFilter = ""; // the hub's default: an empty query then stays in the URL as ?q=
    this.choosing = null; // the list whose choice a key is moving (its change must not apply)
    this.history = loadHistory();
    this.fillPresets();
    this.fillHistory();
    elements.input.addEventListener("input", () => {
      this.scheduleValidate();
      this.suggest();
    });
    elements.input.addEventListener("keydown", (event) => this.onKey(event));
    elements.input.addEventListener("blur", () => setTimeout(() => this.hideSuggestions(), 150));
    elements.apply.addEventListener("click", () => this.apply());
    for (const list of [elements.presets, elements.history]) {
      list.addEventListener("keydown", (event) => this.onListKey(event, list));
      list.addEventListener("change", () => {
        if (this.choosing !== list) this.pick(list);
      });
    }
    elements.suggest.addEventListener("mousedown", (event) => {
      const item = event.target.closest("li");
      if (item !== null) this.complete(item.textContent);
      event.preventDefault();
    });
  }

  /** Load the autocomplete names (field paths, aliases, helpers) from the hub. */
  async loadCompletions() {
    const response = await fetch("/api/fields");
    if (!response.ok) throw new Error(`/api/fields: HTTP ${response.status}`);
    this.completions = (await response.json()).completions;
  }

  /** The query from the URL (?q=), applied at start; null when the URL has none. */
  static queryFromUrl() {
    return new URLSearchParams(location.search).get("q");
  }

  /** Set the box text and apply it. */
  set(query) {
    this.el.input.value = query;
    this.apply();
  }

  /** Add `and field == value` to the current text and apply it. */
  addCondition(field, value) {
    const current = this.el.input.value.trim();
    const condition = `${field} == ${kflLiteral(value)}`;
    this.set(current ? `${current.includes(" or ") ? `(${current})` : current} and ${condition}` : condition);
  }

  apply() {
    clearTimeout(this.timer);
    this.hideSuggestions();
    const query = this.el.input.value.trim();
    this.onApply(query);
  }

  /** The server accepted the query: record it in the URL and the history. */
  accepted(query) {
    this.applied = query;
    this.showError(null);
    this.el.state.textContent = query ? `showing: ${query}` : "showing: everything";
    this.el.state.classList.remove("pending");
    const url = new URL(location.href);
    if (query || this.defaultFilter) url.searchParams.set("q", query);
    else url.searchParams.delete("q");
    history.replaceState(null, "", url);
    if (query) {
      this.history = [query, ...this.history.filter((q) => q !== query)].slice(0, HISTORY_SIZE);
      localStorage.setItem(HISTORY_KEY, JSON.stringify(this.history));
      this.fillHistory();
    }
  }

  /** The server refused the query: show why; the previous filter stays. */
  rejected(query, error) {
    this.showError(error, query);
    this.el.state.classList.remove("pending");
    this.el.state.textContent = `still showing: ${this.applied || "everything"}`;
  }

  scheduleValidate() {
    clearTimeout(this.timer);
    this.el.state.classList.add("pending");
    this.timer = setTimeout(() => this.validate(), VALIDATE_DELAY_MS);
  }

  async validate() {
    const query = this.el.input.value;
    const ticket = ++this.validated;
    const response = await fetch(`/api/validate?q=${encodeURIComponent(query)}`);
    if (ticket !== this.validated) return;
    this.el.state.classList.remove("pending");
    if (!response.ok) {
      this.showError({ message: `validation failed: HTTP ${response.status}` }, query);
      return;
    }
    const result = await response.json();
    this.showError(result.valid ? null : result.error, query);
  }

  showError(error, query = "") {
    const box = this.el.error;
    this.el.input.classList.toggle("invalid", error !== null);
    this.el.input.setAttribute("aria-invalid", String(error !== null));
    if (error === null) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    const message = document.createElement("div");
    message.className = "error-message";
    const where = error.line ? `line ${error.line}, column ${error.column}: ` : "";
    message.textContent = where + error.message;
    box.replaceChildren(message);
    if (error.line) {
      const start = offsetOf(query, error.line, error.column);
      const end = Math.max(start + 1, offsetOf(query, error.endLine || error.line, error.endColumn || error.column + 1));
      const shown = document.createElement("pre");
      shown.className = "error-span";
      const mark = document.createElement("mark");
      mark.textContent = query.slice(start, end) || " ";
      mark.dataset.start = String(start);
      shown.append(query.slice(0, start), mark, query.slice(end));
      box.append(shown);
    }
    box.hidden = false;
  }

  onKey(event) {
    const list = this.el.suggest;
    const open = !list.hidden;
    if (event.key === "Enter") {
      event.preventDefault();
      const active = list.querySelector(".active");
      if (open && active !== null && !event.ctrlKey) this.complete(active.textContent);
      else this.apply();
    } else if (open && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      this.moveActive(event.key === "ArrowDown" ? 1 : -1);
    } else if (open && event.key === "Tab") {
      const active = list.querySelector(".active") || list.firstElementChild;
      if (active !== null) {
        event.preventDefault();
        this.complete(active.textContent);
      }
    } else if (event.key === "Escape") {
      this.hideSuggestions();
    }
  }

  /** Enter on a preset or history list applies its choice; the arrows only move it. */
  onListKey(event, list) {
    if (event.key === "Enter") {
      event.preventDefault();
      this.pick(list);
    } else if (CHOOSING_KEYS.has(event.key) || event.key.length === 1) {
      this.choosing = list; // the change event fires before the next task
      setTimeout(() => { this.choosing = null; });
    }
  }

  suggest() {
    const input = this.el.input;
    const [, prefix] = wordAt(input.value, input.selectionStart ?? input.value.length);
    const list = this.el.suggest;
    const matches = prefix ? this.completions.filter((c) => c.startsWith(prefix) && c !== prefix).slice(0, MAX_SUGGESTIONS) : [];
    list.replaceChildren(
      ...matches.map((name, i) => Object.assign(document.createElement("li"), { textContent: name, id: `suggest-${i}`, role: "option" })),
    );
    list.hidden = matches.length === 0;
    input.setAttribute("aria-expanded", String(!list.hidden));
    input.removeAttribute("aria-activedescendant");
  }

  moveActive(step) {
    const items = [...this.el.suggest.children];
    const current = items.findIndex((item) => item.classList.contains("active"));
    items.forEach((item) => {
      item.classList.remove("active");
      item.setAttribute("aria-selected", "false");
    });
    const next = items[(current + step + items.length) % items.length];
    next.classList.add("active");
    next.setAttribute("aria-selected", "true");
    this.el.input.setAttribute("aria-activedescendant", next.id);
  }

  complete(name) {
    const input = this.el.input;
    const caret = input.selectionStart ?? input.value.length;
    const [start] = wordAt(input.value, caret);
    input.value = input.value.slice(0, start) + name + input.value.slice(caret);
    input.setSelectionRange(start + name.length, start + name.length);
    this.hideSuggestions();
    this.scheduleValidate();
  }

  hideSuggestions() {
    this.el.suggest.hidden = true;
    this.el.input.setAttribute("aria-expanded", "false");
    this.el.input.removeAttribute("aria-activedescendant");
  }

  fillPresets() {
    const head = new Option("Presets…", "");
    this.el.presets.replaceChildren(head, ...PRESETS.map(([label, query]) => new Option(label, query)));
  }

  fillHistory() {
    const head = new Option("History…", "");
    this.el.history.replaceChildren(head, ...this.history.map((query) => new Option(query, query)));
  }

  pick(select) {
    const option = select.selectedOptions[0];
    if (select.selectedIndex > 0 && option !== undefined) this.set(option.value);
    select.selectedIndex = 0;
  }
}
