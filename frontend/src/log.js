// The live log: a virtualized, bounded list with one row per TCP connection (its connect and its
// end are one row, updated in place; its events are in the details) and one row per DNS, UDP or
// ICMP entry; the "events" view shows every entry as its own row. Columns size to their content,
// can be resized by dragging a heading's right edge (double-click: back to the content's width),
// and show a cell's full value on hover. Click-to-filter on values; the keyboard moves a selected
// row (arrows), opens its details (Enter) and follows the tail again (End).

import { clock, connectionState, duration, endpointName, eventOf, failed, flowOf, hostPort, sizes } from "./format.js";

export const ROW_HEIGHT = 22;
/** Entries the log holds (a connection row holds each of its events). */
export const MAX_ENTRIES = 5000;
/** While following a fast tail, redraw at most this often (a person cannot read faster). */
export const TAIL_REDRAW_MS = 100;

const ROW_FONT = "12px ui-monospace, monospace";
const SMALL_FONT = "11px ui-monospace, monospace";
const BADGE_FONT = "10px system-ui, sans-serif";
const HEAD_FONT = "600 12px system-ui, sans-serif";
const GAP = 4; // grid column gap, as in style.css
const PADDING = 16; // row padding, both sides
const MIN_COLUMN = 24;
const MIN_FLEX = 0; // the flow's addresses: the column cut first (its full value shows on hover)
const MAX_FLEX_ROOM = 540; // at most what the pane asks for the addresses beside the other columns
const MAX_MEASURED = 20_000;

const COLUMNS = [
  { key: "time", heading: "time" },
  { key: "proto", heading: "proto" },
  { key: "event", heading: "event" },
  { key: "src", heading: "source (ns)" },
  { key: "dst", heading: "destination (ns)" },
  { key: "port", heading: "port" },
  { key: "bytes", heading: "bytes ↑ / ↓" },
  { key: "duration", heading: "duration" },
  { key: "addresses", heading: "flow (ip:port → ip:port)", flex: true },
];
const FINAL_EVENTS = new Set(["close", "reset", "refused", "timeout", "expired"]);
const SIZED_EVENTS = new Set(["close", "reset", "ongoing", "expired"]);

/** One log row: a TCP connection (every event of it) or one other entry. */
class Row {
  /** ``grouped``: the row stands for a whole TCP connection (it says open, closed...). */
  constructor(key, entry, grouped) {
    this.key = key;
    this.grouped = grouped;
    this.events = [entry];
    this.entry = entry; // what the row shows: the connection's latest news
  }

  /** Take another event of this row's connection (a final one is never replaced). */
  add(entry) {
    this.events.push(entry);
    const shownFinal = this.entry.tcp && FINAL_EVENTS.has(this.entry.tcp.event);
    if (!shownFinal || (entry.tcp && FINAL_EVENTS.has(entry.tcp.event))) this.entry = entry;
  }

  /** Take an older event of this row's connection (loaded on demand). */
  addOlder(entry) {
    this.events.unshift(entry);
  }
}

/** The texts of one row's cells, and what a click on them filters by. */
export function rowCells(row) {
  const entry = row.entry;
  const flow = flowOf(entry);
  const tcp = entry.tcp;
  const event = eventOf(entry);
  const shown = tcp && row.grouped ? connectionState(event) : event;
  const sent = entry.protocol.name === "udp" || (tcp && SIZED_EVENTS.has(tcp.event)) ? sizes(entry) : "";
  const ended = !tcp || FINAL_EVENTS.has(tcp.event) || tcp.event === "ongoing";
  // an ICMP error reads as the flow that failed: "udp 10.244.1.12:50642 -> 203.0.113.77:5353
  // host unreachable (reported by 198.51.100.2)"
  const dialed = entry.nat && entry.nat.dialed;
  let addresses = flow.reporter
    ? `${flow.protocol} ${hostPort(flow.src)} -> ${hostPort(flow.dst)} ${event} (reported by ${flow.reporter.ip})`
    : `${hostPort(flow.src)} → ${hostPort(flow.dst)}`;
  if (dialed) addresses += ` via ${hostPort(dialed)}`;
  return {
    time: clock(row.events[0].timestamp),
    proto: entry.protocol.abbr,
    event: shown,
    src: flow.src,
    dst: flow.dst,
    srcPath: flow.srcPath,
    dstPath: flow.dstPath,
    port: String(flow.dst.port),
    via: dialed && entry.dst.service ? entry.dst.service : "", // the Service the client dialed
    bytes: sent,
    duration: ended ? duration(entry.elapsedTime) : "",
    addresses,
  };
}

/** A clickable value: click adds ``field == value`` to the filter; hover shows it whole. */
function cell(text, field, value, className = "") {
  const span = document.createElement("span");
  span.textContent = text;
  if (className) span.className = className;
  if (field !== null) {
    span.classList.add("v");
    span.dataset.field = field;
    span.dataset.value = JSON.stringify(value);
    span.title = `${text}\nclick: and ${field} == ${JSON.stringify(value)}`;
  } else {
    span.title = text;
  }
  return span;
}

/** The namespace text of an endpoint: its namespace, "external", or nothing. */
function namespaceText(endpoint) {
  if (endpoint.namespace) return endpoint.namespace;
  return endpoint.kind === "external" ? "external" : "";
}

/** One endpoint's name and namespace. */
function endpointCell(path, endpoint) {
  const named = path === "src" || path === "dst";
  const name = endpointName(endpoint);
  const parts = [named ? cell(name, `${path}.name`, endpoint.name || endpoint.ip, "name") : cell(name, `${path}.ip`, endpoint.ip, "name")];
  const ns = namespaceText(endpoint);
  if (ns && named) parts.push(cell(ns, `${path}.namespace`, endpoint.namespace, endpoint.namespace ? "ns" : "ns ext"));
  return parts;
}

function renderRow(row) {
  const entry = row.entry;
  const cells = rowCells(row);
  const element = document.createElement("div");
  element.className = "row";
  element.id = `row-${row.key}`;
  element.setAttribute("role", "option");
  element.setAttribute("aria-selected", "false");
  const proto = entry.protocol.name;
  element.dataset.protocol = proto;
  element.dataset.id = row.key;
  element.dataset.entry = entry.id;
  element.dataset.events = String(row.events.length);
  element.dataset.srcNamespace = cells.src.namespace;
  element.dataset.dstNamespace = cells.dst.namespace;
  if (failed(entry)) element.classList.add("failed");
  const column = (key, ...children) => {
    const span = document.createElement("span");
    span.className = `c-${key}`;
    span.append(...children);
    element.append(span);
    return span;
  };
  column("time", cells.time).title = cells.time;
  column("proto", cell(cells.proto, "protocol.name", proto, `badge p-${proto}`));
  if (entry.tcp) column("event", cell(cells.event, "tcp.event", entry.tcp.event, `ev ev-${cells.event}`));
  else column("event", cell(cells.event, null, null, entry.icmp ? "ev ev-icmp" : "ev"));
  column("src", ...endpointCell(cells.srcPath, cells.src));
  const dst = column("dst", ...endpointCell(cells.dstPath, cells.dst));
  if (cells.via) dst.append(cell(`via service ${cells.via}`, "dst.service", cells.via, "via"));
  const portPath = cells.dstPath === "src" || cells.dstPath === "dst" ? `${cells.dstPath}.port` : "icmp.about.dst.port";
  column("port", cell(cells.port, portPath, cells.dst.port));
  column("bytes", cell(cells.bytes, null, null));
  column("duration", cell(cells.duration, null, null));
  column("addresses", cell(cells.addresses, null, null));
  return element;
}

/** Text widths in px by font, remembered (the same names and numbers recur). */
class TextMeasure {
  constructor() {
    this.context = document.createElement("canvas").getContext("2d");
    this.known = new Map();
  }

  width(text, font = ROW_FONT) {
    const key = `${font}\u0000${text}`;
    let found = this.known.get(key);
    if (found === undefined) {
      if (this.known.size > MAX_MEASURED) this.known.clear();
      this.context.font = font;
      found = this.context.measureText(text).width;
      this.known.set(key, found);
    }
    return found;
  }
}

export class LiveLog {
  /**
   * elements: {log, spacer, rows, head, jump, cover (the details pane, drawn over the log's
   * bottom), pane (whose CSS variables hold the column widths)}; onFilter(field, value);
   * onSelect(row) when a row is chosen (null: none); onOpen() when Enter is pressed on it.
   */
  constructor(elements, onFilter, onSelect, onOpen) {
    this.el = elements;
    this.entries = []; // every entry held, oldest first
    this.rows = [];
    this.byKey = new Map();
    this.byConnection = true;
    this.following = true;
    this.dirty = false;
    this.onFilter = onFilter;
    this.onSelect = onSelect;
    this.onOpen = onOpen;
    this.selectedKey = null;
    this.drawnAt = 0;
    this.pressed = false; // a pointer is down on the rows: redraws wait, or the click is lost
    this.measure = new TextMeasure();
    this.widths = {};
    this.userWidths = {};
    this.layout = "";
    this.drawHead();
    this.resetWidths();
    elements.log.addEventListener("scroll", () => this.onScroll());
    elements.jump.addEventListener("click", () => this.jumpToNewest());
    elements.rows.addEventListener("pointerdown", () => { this.pressed = true; });
    window.addEventListener("pointerup", () => { this.pressed = false; });
    elements.rows.addEventListener("click", (event) => this.onClick(event));
    elements.log.addEventListener("keydown", (event) => this.onKey(event));
  }

  drawHead() {
    this.el.head.replaceChildren(
      ...COLUMNS.map((column) => {
        const heading = Object.assign(document.createElement("span"), { className: `c-${column.key}`, textContent: column.heading, title: column.heading });
        if (!column.flex) {
          const grip = Object.assign(document.createElement("span"), { className: "grip", title: "drag: resize; double-click: fit the content" });
          grip.dataset.key = column.key;
          grip.addEventListener("pointerdown", (event) => this.startResize(event, column.key));
          grip.addEventListener("dblclick", () => {
            delete this.userWidths[column.key];
            this.applyWidths();
          });
          heading.append(grip);
        }
        return heading;
      }),
    );
  }

  /** Drag a heading's edge: the column takes the width the pointer gives it. */
  startResize(event, key) {
    event.preventDefault();
    const grip = event.target;
    const start = event.clientX;
    const from = this.columnWidth(key);
    grip.setPointerCapture(event.pointerId);
    const move = (moved) => {
      this.userWidths[key] = Math.max(MIN_COLUMN, Math.round(from + moved.clientX - start));
      this.applyWidths();
    };
    const stop = () => {
      grip.removeEventListener("pointermove", move);
      grip.removeEventListener("pointerup", stop);
    };
    grip.addEventListener("pointermove", move);
    grip.addEventListener("pointerup", stop);
  }

  resetWidths() {
    this.widths = {};
    for (const column of COLUMNS) {
      this.widths[column.key] = Math.ceil(this.measure.width(column.heading, HEAD_FONT)) + 6; // + the grip
    }
    this.applyWidths();
  }

  columnWidth(key) {
    return this.userWidths[key] ?? this.widths[key];
  }

  /** Grow the columns to fit one row's content. */
  fit(row) {
    const c = rowCells(row);
    const m = this.measure;
    const side = (endpoint, path) => {
      const ns = path === "src" || path === "dst" ? namespaceText(endpoint) : "";
      return m.width(endpointName(endpoint)) + (ns ? 8 + m.width(ns, SMALL_FONT) : 0);
    };
    const needs = {
      time: m.width(c.time),
      proto: m.width(c.proto, BADGE_FONT) + 12,
      event: m.width(c.event) * 1.08 + 2, // bold when it failed
      src: side(c.src, c.srcPath),
      dst: side(c.dst, c.dstPath) + (c.via ? 6 + m.width(`via service ${c.via}`, SMALL_FONT) : 0),
      port: m.width(c.port),
      bytes: m.width(c.bytes),
      duration: m.width(c.duration),
      addresses: m.width(c.addresses),
    };
    let grew = false;
    for (const [key, width] of Object.entries(needs)) {
      const px = Math.ceil(width) + 2;
      if (px > this.widths[key]) {
        this.widths[key] = px;
        grew = true;
      }
    }
    return grew;
  }

  /** Put the column widths into the pane's CSS variables (only when they changed). */
  applyWidths() {
    let fixed = 0;
    const parts = COLUMNS.map((column) => {
      if (column.flex) return `minmax(${MIN_FLEX}px, 1fr)`;
      const px = this.columnWidth(column.key);
      fixed += px;
      return `${px}px`;
    });
    const layout = parts.join(" ");
    if (layout === this.layout) return;
    this.layout = layout;
    const pane = this.el.pane;
    pane.style.setProperty("--log-columns", layout);
    const needed = fixed + GAP * (COLUMNS.length - 1) + PADDING;
    pane.style.setProperty("--log-min-width", `${needed + MIN_FLEX}px`);
    pane.style.setProperty("--log-needed", `${needed}px`);
    pane.style.setProperty("--log-fit", `${needed + Math.min(this.widths.addresses, MAX_FLEX_ROOM)}px`);
  }

  /**
   * The row an entry belongs to. By connection: a TCP connection's ISN (with the port reached),
   * which no NAT rewrites and both nodes of a cross-node connection report, so the connect one
   * worker reported and the close another did are one row; else its ``connId`` (worker, start,
   * 5-tuple); else the entry itself.
   */
  keyOf(entry) {
    if (!this.byConnection) return entry.id;
    const isn = entry.tcp && entry.tcp.isn;
    if (isn !== undefined && isn !== null) return `isn/${isn}/${entry.dst.port}`;
    return entry.connId || entry.id;
  }

  /** Append entries (oldest first): new rows, or news of a connection already shown. */
  append(entries) {
    let grew = false;
    for (const entry of entries) {
      this.entries.push(entry);
      const key = this.keyOf(entry);
      let row = this.byKey.get(key);
      if (row === undefined) {
        row = new Row(key, entry, key !== entry.id);
        this.byKey.set(key, row);
        this.rows.push(row);
      } else {
        row.add(entry);
      }
      grew = this.fit(row) || grew;
    }
    if (this.entries.length > MAX_ENTRIES) this.trim(this.entries.length - MAX_ENTRIES);
    if (grew) this.applyWidths();
    this.dirty = true;
  }

  /** Forget the ``excess`` oldest entries, and the rows left without one. */
  trim(excess) {
    const gone = this.entries.splice(0, excess);
    let emptied = 0;
    for (const entry of gone) {
      const row = this.byKey.get(this.keyOf(entry));
      if (row === undefined) continue;
      const at = row.events.indexOf(entry);
      if (at >= 0) row.events.splice(at, 1);
      if (row.events.length === 0) {
        this.byKey.delete(row.key);
        emptied += 1;
      }
    }
    if (emptied === 0) return;
    const before = this.rows.length;
    this.rows = this.rows.filter((row) => row.events.length > 0);
    if (!this.following) this.el.log.scrollTop = Math.max(0, this.el.log.scrollTop - (before - this.rows.length) * ROW_HEIGHT);
  }

  /** Add older entries (oldest first) before those held; returns how many it took (the log
   * holds at most MAX_ENTRIES). */
  prepend(older) {
    const room = Math.max(0, MAX_ENTRIES - this.entries.length);
    const taken = older.slice(Math.max(0, older.length - room));
    const rowsBefore = this.rows.length;
    const fresh = [];
    for (let i = taken.length - 1; i >= 0; i -= 1) {
      const entry = taken[i];
      const key = this.keyOf(entry);
      const row = this.byKey.get(key);
      if (row === undefined) {
        const made = new Row(key, entry, key !== entry.id);
        this.byKey.set(key, made);
        fresh.push(made);
      } else {
        row.addOlder(entry);
      }
    }
    fresh.reverse();
    this.rows = [...fresh, ...this.rows];
    this.entries = [...taken, ...this.entries];
    let grew = false;
    for (const row of fresh) grew = this.fit(row) || grew;
    if (grew) this.applyWidths();
    if (!this.following) this.el.log.scrollTop += (this.rows.length - rowsBefore) * ROW_HEIGHT;
    this.dirty = true;
    this.drawnAt = -Infinity;
    return taken.length;
  }

  /** One row per connection (true) or per entry (false); the held entries are regrouped. */
  setByConnection(byConnection) {
    if (byConnection === this.byConnection) return;
    this.byConnection = byConnection;
    const entries = this.entries;
    const selected = this.selectedRow();
    this.entries = [];
    this.rows = [];
    this.byKey = new Map();
    this.append(entries);
    const again = selected && this.byKey.get(this.keyOf(selected.entry));
    this.selectedKey = again ? again.key : null;
    if (!again) this.onSelect(null);
    this.dirty = true;
    this.drawnAt = -Infinity;
  }

  /** Forget every row now (a new filter starts a new stream: no old row may stay drawn). */
  clear() {
    this.entries = [];
    this.rows = [];
    this.byKey = new Map();
    this.following = true;
    this.dirty = true;
    this.drawnAt = -Infinity;
    this.el.rows.replaceChildren();
    this.el.spacer.style.height = "0px";
    this.el.log.removeAttribute("aria-activedescendant");
    // the columns keep their widths: they only grow, so the pane (and the map beside it) does
    // not change size with every filter
  }

  /** Number of rows. */
  get size() {
    return this.rows.length;
  }

  /** Number of entries held. */
  get held() {
    return this.entries.length;
  }

  /** Draw the visible rows if anything changed; called once per animation frame. */
  render(now = performance.now()) {
    // Replacing the rows between a press and its release would send the click to no row.
    if (!this.dirty || this.pressed || (this.following && now - this.drawnAt < TAIL_REDRAW_MS)) return;
    this.dirty = false;
    this.drawnAt = now;
    const log = this.el.log;
    this.el.spacer.style.height = `${this.rows.length * ROW_HEIGHT}px`;
    if (this.following) log.scrollTop = log.scrollHeight;
    this.drawWindow();
    this.el.jump.hidden = this.following;
  }

  drawWindow() {
    const log = this.el.log;
    const first = Math.max(0, Math.floor(log.scrollTop / ROW_HEIGHT) - 5);
    const count = Math.ceil(log.clientHeight / ROW_HEIGHT) + 10;
    const visible = this.rows.slice(first, first + count);
    this.el.rows.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    this.el.rows.replaceChildren(
      ...visible.map((row) => {
        const element = renderRow(row);
        if (row.key === this.selectedKey) {
          element.classList.add("selected");
          element.setAttribute("aria-selected", "true");
        }
        return element;
      }),
    );
    const shown = visible.some((row) => row.key === this.selectedKey);
    if (shown) this.el.log.setAttribute("aria-activedescendant", `row-${this.selectedKey}`);
    else this.el.log.removeAttribute("aria-activedescendant");
  }

  onScroll() {
    const log = this.el.log;
    this.el.head.scrollLeft = log.scrollLeft;
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
    const element = event.target.closest(".row");
    if (element === null) return;
    const row = this.byKey.get(element.dataset.id);
    if (row !== undefined) this.select(row);
  }

  onKey(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") this.moveSelection(event.key === "ArrowDown" ? 1 : -1);
    else if (event.key === "Enter" && this.selectedKey !== null) this.onOpen();
    else if (event.key === "End") this.jumpToNewest();
    else if (event.key === "Escape") this.select(null);
    else return;
    event.preventDefault();
  }

  /** Choose the next (+1) or previous (-1) row; with none chosen, the top or bottom one in view. */
  moveSelection(step) {
    if (this.rows.length === 0) return;
    const log = this.el.log;
    const at = this.rows.findIndex((row) => row.key === this.selectedKey);
    let next;
    if (at >= 0) next = at + step;
    else if (step > 0) next = Math.ceil(log.scrollTop / ROW_HEIGHT);
    else next = Math.floor((log.scrollTop + this.viewHeight()) / ROW_HEIGHT) - 1;
    next = Math.min(this.rows.length - 1, Math.max(0, next));
    this.select(this.rows[next]);
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
    this.el.spacer.style.height = `${this.rows.length * ROW_HEIGHT}px`; // rows not drawn yet
    if (top < log.scrollTop) log.scrollTop = top;
    else if (top + ROW_HEIGHT > log.scrollTop + height) log.scrollTop = top + ROW_HEIGHT - height;
    this.drawWindow();
  }

  /** The chosen row, or null. */
  selectedRow() {
    return this.selectedKey === null ? null : this.byKey.get(this.selectedKey) ?? null;
  }

  /** Mark one row as selected and show it in the details pane (null closes it). */
  select(row) {
    this.selectedKey = row === null ? null : row.key;
    this.onSelect(row);
    this.drawWindow();
  }
}
