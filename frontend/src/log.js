// The live log: a virtualized, bounded list of entries with follow-tail and click-to-filter;
// the keyboard moves a selected row (arrows), opens its details (Enter) and follows again (End).

import { clock, duration, endpointName, eventOf, failed, sizes } from "./format.js";

export const ROW_HEIGHT = 22;
export const MAX_ROWS = 5000;
/** While following a fast tail, redraw at most this often (a person cannot read faster). */
export const TAIL_REDRAW_MS = 100;

const COLUMNS = ["time", "proto", "event", "names", "addresses", "bytes", "duration"];
const HEADINGS = ["time", "proto", "event", "src → dst", "ip:port → ip:port", "bytes ↑ / ↓", "duration"];

function cell(text, field, value, className = "") {
  const span = document.createElement("span");
  span.textContent = text;
  if (className) span.className = className;
  if (field !== null) {
    span.classList.add("v");
    span.dataset.field = field;
    span.dataset.value = JSON.stringify(value);
    span.title = `click: and ${field} == ${JSON.stringify(value)}`;
  }
  return span;
}

/** One endpoint's name and namespace, truncated on its own so both sides stay visible. */
function endpointGroup(side, endpoint) {
  const group = document.createElement("span");
  group.className = "side";
  group.append(cell(endpointName(endpoint), `${side}.name`, endpoint.name || endpoint.ip, "name"));
  if (endpoint.namespace) group.append(cell(endpoint.namespace, `${side}.namespace`, endpoint.namespace, "ns"));
  else if (endpoint.kind === "external") group.append(cell("external", `${side}.namespace`, "", "ns ext"));
  return group;
}

function addressGroup(side, endpoint) {
  const group = document.createElement("span");
  group.className = "side";
  group.append(cell(`${endpoint.ip}:${endpoint.port}`, `${side}.ip`, endpoint.ip));
  return group;
}

function renderRow(entry) {
  const row = document.createElement("div");
  row.className = "row";
  row.id = `row-${entry.id}`;
  row.setAttribute("role", "option");
  row.setAttribute("aria-selected", "false");
  const proto = entry.protocol.name;
  row.dataset.protocol = proto;
  row.dataset.id = entry.id;
  row.dataset.srcNamespace = entry.src.namespace;
  row.dataset.dstNamespace = entry.dst.namespace;
  if (failed(entry)) row.classList.add("failed");
  const cols = {};
  for (const name of COLUMNS) {
    cols[name] = document.createElement("span");
    cols[name].className = `c-${name}`;
    row.append(cols[name]);
  }
  cols.time.textContent = clock(entry.timestamp);
  cols.proto.append(cell(entry.protocol.abbr, "protocol.name", proto, `badge p-${proto}`));
  const event = eventOf(entry);
  if (entry.tcp) cols.event.append(cell(event, "tcp.event", event, `ev ev-${event}`));
  else cols.event.textContent = event;
  cols.names.append(endpointGroup("src", entry.src), "→", endpointGroup("dst", entry.dst));
  const dialed = entry.nat && entry.nat.dialed;
  if (dialed && entry.dst.service) {
    cols.names.append(cell(`via service ${entry.dst.service}`, "dst.service", entry.dst.service, "via"));
  }
  cols.addresses.append(addressGroup("src", entry.src), "→", addressGroup("dst", entry.dst));
  if (dialed) cols.addresses.append(cell(`via ${dialed.ip}:${dialed.port}`, "nat.dialed.ip", dialed.ip, "via"));
  cols.bytes.textContent = sizes(entry);
  cols.duration.textContent = duration(entry.elapsedTime);
  return row;
}

export class LiveLog {
  /**
   * elements: {log, spacer, rows, head, jump, cover (the details pane, drawn over the log's
   * bottom)}; onFilter(field, value); onSelect(entry) when a row is chosen (null: none);
   * onOpen() when Enter is pressed on the chosen row.
   */
  constructor(elements, onFilter, onSelect, onOpen) {
    this.el = elements;
    this.entries = [];
    this.following = true;
    this.dirty = false;
    this.onFilter = onFilter;
    this.onSelect = onSelect;
    this.onOpen = onOpen;
    this.selectedId = null;
    this.drawnAt = 0;
    this.pressed = false; // a pointer is down on the rows: redraws wait, or the click is lost
    elements.head.replaceChildren(
      ...HEADINGS.map((text, i) => Object.assign(document.createElement("span"), { className: `c-${COLUMNS[i]}`, textContent: text })),
    );
    elements.log.addEventListener("scroll", () => this.onScroll());
    elements.jump.addEventListener("click", () => this.jumpToNewest());
    elements.rows.addEventListener("pointerdown", () => { this.pressed = true; });
    window.addEventListener("pointerup", () => { this.pressed = false; });
    elements.rows.addEventListener("click", (event) => this.onClick(event));
    elements.log.addEventListener("keydown", (event) => this.onKey(event));
  }

  /** Append entries (oldest first), dropping the oldest past MAX_ROWS. */
  append(entries) {
    this.entries.push(...entries);
    const excess = this.entries.length - MAX_ROWS;
    if (excess > 0) {
      this.entries.splice(0, excess);
      if (!this.following) this.el.log.scrollTop = Math.max(0, this.el.log.scrollTop - excess * ROW_HEIGHT);
    }
    this.dirty = true;
  }

  /** Forget every row now (a new filter starts a new stream: no old row may stay drawn). */
  clear() {
    this.entries = [];
    this.following = true;
    this.dirty = true;
    this.drawnAt = -Infinity;
    this.el.rows.replaceChildren();
    this.el.spacer.style.height = "0px";
    this.el.log.removeAttribute("aria-activedescendant");
  }

  /** Number of rows held. */
  get size() {
    return this.entries.length;
  }

  /** Draw the visible rows if anything changed; called once per animation frame. */
  render(now = performance.now()) {
    // Replacing the rows between a press and its release would send the click to no row.
    if (!this.dirty || this.pressed || (this.following && now - this.drawnAt < TAIL_REDRAW_MS)) return;
    this.dirty = false;
    this.drawnAt = now;
    const log = this.el.log;
    this.el.spacer.style.height = `${this.entries.length * ROW_HEIGHT}px`;
    if (this.following) log.scrollTop = log.scrollHeight;
    this.drawWindow();
    this.el.jump.hidden = this.following;
  }

  drawWindow() {
    const log = this.el.log;
    const first = Math.max(0, Math.floor(log.scrollTop / ROW_HEIGHT) - 5);
    const count = Math.ceil(log.clientHeight / ROW_HEIGHT) + 10;
    const visible = this.entries.slice(first, first + count);
    this.el.rows.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    this.el.rows.replaceChildren(
      ...visible.map((entry) => {
        const row = renderRow(entry);
        if (entry.id === this.selectedId) {
          row.classList.add("selected");
          row.setAttribute("aria-selected", "true");
        }
        return row;
      }),
    );
    const shown = visible.some((entry) => entry.id === this.selectedId);
    if (shown) this.el.log.setAttribute("aria-activedescendant", `row-${this.selectedId}`);
    else this.el.log.removeAttribute("aria-activedescendant");
  }

  onScroll() {
    const log = this.el.log;
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - ROW_HEIGHT;
    if (atBottom !== this.following) {
      this.following = atBottom;
      this.el.jump.hidden = atBottom;
    }
    // Draw the rows scrolled into view, unless a full redraw is due. While a row is pressed, a
    // scroll (a tail redraw's own, dispatched a frame later) must not replace it and lose the
    // click; and rows that arrived since the last redraw are not in the spacer yet: drawing them
    // now would put them below its end, where the log does not scroll to.
    if (this.pressed) this.dirty = true;
    else if (!this.dirty) this.drawWindow();
  }

  /** Scroll to the newest row and follow the tail again. */
  jumpToNewest() {
    this.following = true;
    this.dirty = true;
    this.drawnAt = -Infinity;
    this.render();
  }

  onClick(event) {
    const value = event.target.closest(".v");
    if (value !== null) {
      this.onFilter(value.dataset.field, JSON.parse(value.dataset.value));
      return;
    }
    const row = event.target.closest(".row");
    if (row === null) return;
    const entry = this.entries.find((e) => e.id === row.dataset.id);
    if (entry !== undefined) this.select(entry);
  }

  onKey(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") this.moveSelection(event.key === "ArrowDown" ? 1 : -1);
    else if (event.key === "Enter" && this.selectedId !== null) this.onOpen();
    else if (event.key === "End") this.jumpToNewest();
    else if (event.key === "Escape") this.select(null);
    else return;
    event.preventDefault();
  }

  /** Choose the next (+1) or previous (-1) row; with none chosen, the top or bottom one in view. */
  moveSelection(step) {
    if (this.entries.length === 0) return;
    const log = this.el.log;
    const at = this.entries.findIndex((entry) => entry.id === this.selectedId);
    let next;
    if (at >= 0) next = at + step;
    else if (step > 0) next = Math.ceil(log.scrollTop / ROW_HEIGHT);
    else next = Math.floor((log.scrollTop + this.viewHeight()) / ROW_HEIGHT) - 1;
    next = Math.min(this.entries.length - 1, Math.max(0, next));
    this.select(this.entries[next]);
    this.reveal(next);
  }

  /** The height of the rows not hidden under the details pane. */
  viewHeight() {
    const cover = this.el.cover;
    return this.el.log.clientHeight - (cover.hidden ? 0 : cover.offsetHeight);
  }

  /** Scroll just enough for row ``index`` to be in view (above the details pane). */
  reveal(index) {
    const log = this.el.log;
    const top = index * ROW_HEIGHT;
    const height = Math.max(ROW_HEIGHT, this.viewHeight());
    this.el.spacer.style.height = `${this.entries.length * ROW_HEIGHT}px`; // rows not drawn yet
    if (top < log.scrollTop) log.scrollTop = top;
    else if (top + ROW_HEIGHT > log.scrollTop + height) log.scrollTop = top + ROW_HEIGHT - height;
    this.drawWindow();
  }

  /** Mark one entry as selected and show it in the details pane (null closes it). */
  select(entry) {
    this.selectedId = entry === null ? null : entry.id;
    this.onSelect(entry);
    this.drawWindow();
  }
}
