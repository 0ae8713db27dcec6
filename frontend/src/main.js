// The dashboard: wires the websocket to the header, filter box, live log, details and map.

import "./style.css";
import { DetailsPane } from "./details.js";
import { FilterBox } from "./filter.js";
import { Header } from "./header.js";
import { LiveLog } from "./log.js";
import { ConnectivityMap } from "./map.js";
import { TargetingEditor } from "./targeting.js";
import { LiveSocket } from "./ws.js";

const $ = (id) => document.getElementById(id);

/** What this tab received and missed, for devtools, the e2e tests and the browser bench. */
const counters = { received: 0, missed: 0, batches: 0, filter: "", rows: () => log.size, cy: null };
window.podscope = counters;

let statsAt = performance.now();
let level = "namespace";
// The last query the hub accepted; at first ?q=, or (null) the hub's default filter.
let wanted = FilterBox.queryFromUrl();

const header = new Header(
  { status: $("status"), pause: $("pause"), stats: $("stats"), missed: $("missed"), targeting: $("targeting"), notTargeted: $("not-targeted") },
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
  { log: $("log"), spacer: $("log-spacer"), rows: $("log-rows"), head: $("log-head"), jump: $("jump"), cover: $("details") },
  (field, value) => filterBox.addCondition(field, value),
  (entry) => details.show(entry),
  () => details.focus(),
);
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
      log.clear(); // the new session starts with its own backfill
      filterBox.defaultFilter = message.defaultFilter;
      if (wanted === null) { // opened without ?q=: the hub's default filter
        wanted = message.defaultFilter;
        $("query").value = wanted;
      }
      targeting.setAvailable(message.targeting);
      awaitingFilter = true;
      socket.setFilter(wanted);
      if (message.level !== level) socket.setLevel(level);
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
      socket.ack(message.seq); // the bounded log holds them; drawing is per frame
      break;
    case "filter.ok":
      awaitingFilter = false;
      wanted = message.query;
      counters.filter = message.query;
      filterBox.accepted(message.query);
      log.clear();
      log.select(null);
      break;
    case "filter.error":
      awaitingFilter = false; // the session keeps streaming its previous filter: show it
      filterBox.rejected(message.query, message.error);
      break;
    case "map":
      if (message.level === level) map.update(message);
      break;
    case "stats": {
      const now = performance.now();
      header.stats(message, (now - statsAt) / 1000);
      statsAt = now;
      if (message.targeting) targeting.show(message.targeting);
      break;
    }
    case "error":
      console.warn(`podscope server: ${message.message}`);
      break;
    default:
      console.warn(`podscope: unknown message type ${message.type}`);
  }
}

const socket = new LiveSocket({ onMessage, onStatus: (state) => header.setConnection(state) });

function frame(now) {
  log.render(now);
  requestAnimationFrame(frame);
}

$("level").addEventListener("change", (event) => {
  level = event.target.value;
  map.clear();
  socket.setLevel(level);
});
$("width").addEventListener("change", (event) => map.setWidthBy(event.target.value));

$("query").value = wanted ?? "";
socket.connect();
requestAnimationFrame(frame);
filterBox.loadCompletions().catch((error) => console.warn(`podscope: ${error.message}`));
