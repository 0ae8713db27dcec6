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
let wanted = FilterBox.queryFromUrl(); // the last query the hub accepted (at first: ?q=)

const header = new Header(
  { status: $("status"), pause: $("pause"), stats: $("stats"), missed: $("missed"), targeting: $("targeting") },
  (paused) => socket.setPaused(paused),
);
const filterBox = new FilterBox(
  { input: $("query"), apply: $("apply"), presets: $("presets"), history: $("history"), state: $("query-state"), error: $("query-error"), suggest: $("suggest") },
  (query) => socket.setFilter(query),
);
const details = new DetailsPane($("details"), (field, value) => filterBox.addCondition(field, value), () => log.select(null));
const log = new LiveLog(
  { log: $("log"), spacer: $("log-spacer"), rows: $("log-rows"), head: $("log-head"), jump: $("jump") },
  (field, value) => filterBox.addCondition(field, value),
  (entry) => details.show(entry),
);
const map = new ConnectivityMap($("map"), $("map-info"), $("legend-namespaces"), (condition) => {
  const current = filterBox.applied;
  filterBox.set(current ? `(${current}) and (${condition})` : condition);
});
counters.cy = map.cy;
const targeting = new TargetingEditor(
  {
    summary: $("targeting"), edit: $("targeting-edit"), form: $("targeting-form"), regex: $("targeting-regex"),
    namespaces: $("targeting-namespaces"), excluded: $("targeting-excluded"), error: $("targeting-error"),
  },
  (body) => header.targeting(body),
);

// True from a new session's hello until the hub answers this tab's own filter: the entries
// streamed meanwhile belong to the session's default filter, so they are acked, not shown.
let awaitingFilter = false;

function onMessage(message) {
  switch (message.type) {
    case "hello": // a new session (also after a reconnect): give it this tab's query and level
      log.clear(); // the new session starts with its own backfill
      awaitingFilter = message.query !== wanted;
      if (awaitingFilter) socket.setFilter(wanted);
      else filterBox.accepted(wanted);
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

async function loadSide() {
  await Promise.all([filterBox.loadCompletions(), targeting.load()]);
}

$("query").value = wanted;
socket.connect();
requestAnimationFrame(frame);
loadSide().catch((error) => console.warn(`podscope: ${error.message}`));
