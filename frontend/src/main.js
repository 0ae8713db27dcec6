// The dashboard: wires the websocket to the header, filter box, live log, details and map.

import "./style.css";
import { DetailsPane } from "./details.js";
import { FilterBox } from "./filter.js";
import { Header } from "./header.js";
import { LiveLog, MAX_ENTRIES } from "./log.js";
import { ConnectivityMap } from "./map.js";
import { TargetingEditor } from "./targeting.js";
import { LiveSocket } from "./ws.js";

const $ = (id) => document.getElementById(id);

/** What this tab received and missed, for devtools, the e2e tests and the browser bench. */
const counters = {
  received: 0, missed: 0, batches: 0, filter: "", cy: null,
  rows: () => log.size, held: () => log.held, newest: () => log.entries.at(-1)?.id ?? null,
};
window.podscope = counters;
const OLDER_PAGE = 500;

/** What the log holds of the applied filter's matches, and how to reach older ones. */
const matches = {
  total: null, // stored entries matching, per the hub (null: not known yet)
  backfilled: false, // the filter's first entries message came: an empty log now means none
  cursor: null, // the store seq of the oldest entry held: GET /api/entries?before=
  exhausted: false, // the API said nothing older matches
  loading: false,
};

let statsAt = performance.now();
let level = "namespace";
let services = true; // the map draws Services between callers and backends (not per namespace)
/** Whether the map at the chosen level shows Services (the hub's ``services`` for it). */
const showsServices = () => services && level !== "namespace";
// The last query the hub accepted; at first ?q=, or (null) the hub's default filter.
let wanted = FilterBox.queryFromUrl();

const header = new Header(
  {
    status: $("status"), pause: $("pause"), stats: $("stats"), missed: $("missed"), targeting: $("targeting"),
    notTargeted: $("not-targeted"), notice: $("notice"), capture: $("capture"), workers: $("workers"), excluded: $("excluded"),
  },
  (paused) => socket.setPaused(paused),
);
const filterBox = new FilterBox(
  { input: $("query"), apply: $("apply"), presets: $("presets"), history: $("history"), state: $("query-state"), error: $("query-error"), suggest: $("suggest") },
  (query) => socket.setFilter(query),
);
function closeDetails() {
  const hadFocus = $("details").contains(document.activeElement);
  log.select(null);
  if (hadFocus) $("log").focus(); // the focused button is gone with the pane
}

const details = new DetailsPane($("details"), (field, value) => filterBox.addCondition(field, value), closeDetails);
const log = new LiveLog(
  { log: $("log"), spacer: $("log-spacer"), rows: $("log-rows"), head: $("log-head"), jump: $("jump"), cover: $("details"), pane: $("log-pane") },
  (field, value) => filterBox.addCondition(field, value),
  (row) => details.show(row),
  () => details.focus(),
);

/** The log's count line, its Load older button and its empty-state message. */
function drawMatches() {
  const held = log.held;
  const count = $("log-count");
  const rows = log.byConnection ? `${log.size.toLocaleString()} row${log.size === 1 ? "" : "s"}` : "";
  const total = matches.total === null ? null : Math.max(matches.total, held);
  count.textContent = total === null
    ? `${held.toLocaleString()} held`
    : `${total.toLocaleString()} match · ${held.toLocaleString()} held${rows ? ` (${rows})` : ""}`;
  count.dataset.matched = total === null ? "" : String(total);
  count.dataset.held = String(held);
  count.title = "entries matching the filter in the hub's store, and how many this tab holds; a connection row holds each of its events";
  const older = $("load-older");
  const more = matches.cursor !== null && !matches.exhausted && total !== null && total > held;
  older.hidden = !more && !matches.loading;
  older.disabled = matches.loading || log.held >= MAX_ENTRIES;
  older.textContent = log.held >= MAX_ENTRIES ? `Log full (${MAX_ENTRIES.toLocaleString()})` : matches.loading ? "Loading…" : "Load older";
  const empty = $("log-empty");
  const nothing = matches.backfilled && held === 0;
  empty.hidden = !nothing;
  if (nothing) {
    const query = filterBox.applied;
    empty.textContent = query ? `no entries match \`${query}\`` : "no entries yet: nothing captured so far";
  }
}

/** Fetch the page of matches older than the oldest held, and put it at the log's top. */
async function loadOlder() {
  if (matches.cursor === null || matches.loading) return;
  matches.loading = true;
  drawMatches();
  const query = filterBox.applied;
  const url = `/api/entries?q=${encodeURIComponent(query)}&limit=${OLDER_PAGE}&before=${matches.cursor}`;
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const page = await response.json();
    if (query !== filterBox.applied) return; // the filter changed meanwhile
    log.prepend(page.entries.reverse());
    matches.cursor = page.next;
    matches.exhausted = page.next === null;
  } catch (error) {
    $("log-count").textContent += ` · older entries not loaded: ${error.message}`;
  } finally {
    matches.loading = false;
    drawMatches();
  }
}
$("load-older").addEventListener("click", () => loadOlder());

function setRowsPerConnection(byConnection) {
  log.setByConnection(byConnection);
  $("view-connections").setAttribute("aria-pressed", String(byConnection));
  $("view-events").setAttribute("aria-pressed", String(!byConnection));
  drawMatches();
}
$("view-connections").addEventListener("click", () => setRowsPerConnection(true));
$("view-events").addEventListener("click", () => setRowsPerConnection(false));

/** Why the map is empty, or nothing when it is not. */
function drawMapEmpty(message) {
  const empty = $("map-empty");
  const nothing = message.nodes.length === 0;
  empty.hidden = !nothing;
  if (!nothing) return;
  const protocols = new Set(log.entries.map((entry) => entry.protocol.name));
  if (log.held === 0) empty.textContent = "nothing to map: no entries match";
  else if (protocols.size === 1 && protocols.has("dns")) empty.textContent = "nothing to map: DNS entries are not connections";
  else empty.textContent = "nothing to map: none of these entries is a connection (DNS answers, ICMP errors about TCP)";
}
const map = new ConnectivityMap(
  { container: $("map"), info: $("map-info"), legend: $("legend-namespaces"), zoomIn: $("zoom-in"), zoomOut: $("zoom-out"), fit: $("fit") },
  (condition) => {
    const current = filterBox.applied;
    filterBox.set(current ? `(${current}) and (${condition})` : condition);
  },
);
counters.cy = map.cy;
const targeting = new TargetingEditor(
  {
    edit: $("targeting-edit"), form: $("targeting-form"), regex: $("targeting-regex"),
    namespaces: $("targeting-namespaces"), excluded: $("targeting-excluded"), error: $("targeting-error"),
  },
  (body) => header.targeting(body),
);

// True from a new session's hello until the hub answers this tab's own filter: the entries
// streamed meanwhile belong to the session's default filter, so they are acked, not shown.
// The filter is set even when it is the session's own: setting it is what brings the backfill
// of stored entries (a hub that read a pcap once streams nothing new).
let awaitingFilter = false;

function onMessage(message) {
  switch (message.type) {
    case "hello": // a new session (also after a reconnect): give it this tab's query and level
      header.notice(null);
      header.setRecording(message.recording);
      log.clear(); // the new session starts with its own backfill
      filterBox.defaultFilter = message.defaultFilter;
      if (wanted === null) { // opened without ?q=: the hub's default filter
        wanted = message.defaultFilter;
        $("query").value = wanted;
      }
      targeting.setAvailable(message.targeting);
      awaitingFilter = true;
      socket.setFilter(wanted);
      if (message.level !== level || (message.services ?? false) !== showsServices()) socket.setLevel(level, services);
      break;
    case "entries":
      if (awaitingFilter) {
        socket.ack(message.seq);
        break;
      }
      counters.received += message.entries.length;
      counters.missed += message.missed || 0;
      counters.batches += 1;
      header.addMissed(message.missed);
      log.append(message.entries);
      if (message.first !== null && message.first !== undefined && (matches.cursor === null || message.first < matches.cursor)) {
        matches.cursor = message.first;
      }
      if (message.backfill) matches.backfilled = true;
      else if (matches.total !== null) matches.total += message.entries.length; // until the next stats
      refreshDetails();
      socket.ack(message.seq); // the bounded log holds them; drawing is per frame
      countsDue = true;
      break;
    case "filter.ok":
      awaitingFilter = false;
      wanted = message.query;
      counters.filter = message.query;
      filterBox.accepted(message.query);
      log.clear();
      log.select(null);
      Object.assign(matches, { total: message.matched ?? null, backfilled: false, cursor: null, exhausted: false });
      drawMatches();
      break;
    case "filter.error":
      awaitingFilter = false; // the session keeps streaming its previous filter: show it
      filterBox.rejected(message.query, message.error);
      break;
    case "map":
      if (message.level === level && (message.services ?? false) === showsServices()) {
        map.update(message);
        drawMapEmpty(message);
      }
      break;
    case "stats": {
      const now = performance.now();
      header.stats(message, (now - statsAt) / 1000);
      statsAt = now;
      if (!awaitingFilter && typeof message.session.matched === "number" && message.session.query === filterBox.applied) {
        matches.total = message.session.matched;
        drawMatches();
      }
      if (message.targeting) targeting.show(message.targeting);
      break;
    }
    case "error":
      if (socket.reason !== message.message) console.warn(`podscope server: ${message.message}`);
      break; // a refusal (the hub is full) is shown in the header when the socket closes
    default:
      console.warn(`podscope: unknown message type ${message.type}`);
  }
}

function onStatus(state, detail) {
  header.setConnection(state);
  if (state === "full") {
    const seconds = Math.round(detail.delay / 1000);
    header.notice(`${detail.reason || "the hub serves no more viewers now"}: this tab tries again in ${seconds} s (then less often)`);
  } else if (state === "reconnecting") {
    header.notice(null);
  }
}

const socket = new LiveSocket({ onMessage, onStatus });

/** Show the chosen row's news in the details pane (a connection row updates in place). */
function refreshDetails() {
  const row = log.selectedRow();
  if (row !== null && details.isStale(row)) details.show(row);
}

let countsDue = false;
function frame(now) {
  log.render(now);
  if (countsDue) {
    countsDue = false;
    drawMatches();
  }
  requestAnimationFrame(frame);
}

$("level").addEventListener("change", (event) => {
  level = event.target.value;
  $("services").disabled = level === "namespace";
  map.clear();
  socket.setLevel(level, services);
});
$("services").addEventListener("change", (event) => {
  services = event.target.checked;
  if (level === "namespace") return; // a namespace holds its Services: nothing to redraw
  map.clear();
  socket.setLevel(level, services);
});
$("width").addEventListener("change", (event) => map.setWidthBy(event.target.value));

$("query").value = wanted ?? "";
socket.connect();
requestAnimationFrame(frame);
filterBox.loadCompletions().catch((error) => console.warn(`podscope: ${error.message}`));
