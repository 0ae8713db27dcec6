// The header: streaming status (live, or a replay of a recording), pause/resume, what the capture
// leaves out (its mode), each node's worker (up, lagging, gone), capture stats, and what this tab
// is not seeing (entries it missed, entries the hub's global filter excluded, pods the targeting
// leaves out), and why the hub turned this tab away (a full portal).

import { ago, kflLiteral } from "./format.js";

/** A worker that reported within this many seconds is up; within LAGGING_SECONDS, lagging. */
export const UP_SECONDS = 15;
export const LAGGING_SECONDS = 60;

/** What each capture mode leaves out (see DESIGN: capture modes). */
const MODES = {
  connections: "connections mode: TCP handshakes and ends, DNS, ICMP errors; leaves out non-DNS UDP, packet counts and payloads",
  full: "full mode: every packet of the targeted pods",
};

/** A worker's state from the seconds since its last report. */
export function workerState(age) {
  if (age === null || age === undefined) return "up";
  if (age <= UP_SECONDS) return "up";
  return age <= LAGGING_SECONDS ? "lagging" : "gone";
}

export class Header {
  /** elements: {status, pause, stats, missed, targeting, notTargeted, notice, capture, workers,
   * excluded}; onPause(paused). */
  constructor(elements, onPause) {
    this.el = elements;
    this.paused = false;
    this.connection = "connecting";
    this.missed = 0;
    this.lastAccepted = null;
    this.lastConnections = null;
    this.recording = null;
    elements.pause.addEventListener("click", () => {
      this.paused = !this.paused;
      onPause(this.paused);
      this.draw();
    });
  }

  /** The socket's state: connecting, live, reconnecting or full. */
  setConnection(state) {
    this.connection = state;
    this.draw();
  }

  /** The hub's source from its hello: null when it captures live, else {name, loop}. */
  setRecording(recording) {
    this.recording = recording || null;
    this.draw();
  }

  /** A line saying why this tab is not streaming (null clears it). */
  notice(text) {
    this.el.notice.hidden = text === null;
    this.el.notice.textContent = text ?? "";
  }

  /** Count entries the server dropped for this tab. */
  addMissed(count) {
    if (!count) return;
    this.missed += count;
    this.el.missed.textContent = `missed ${this.missed.toLocaleString()} entries (tab too slow)`;
  }

  draw() {
    let state = this.connection === "live" && this.paused ? "paused" : this.connection;
    if (state === "live" && this.recording) state = "replay";
    this.el.status.dataset.status = state;
    this.el.status.textContent = state;
    this.el.status.title = state === "replay"
      ? `not live: entries come from the recording ${this.recording.name}${this.recording.loop ? ", replayed in a loop" : ", read once"}`
      : "";
    this.el.pause.textContent = this.paused ? "Resume" : "Pause";
    this.el.pause.setAttribute("aria-pressed", String(this.paused));
  }

  /** Show a stats message: capture mode, workers, rates, drops, entries lost, lag, what the
   * global filter excluded. */
  stats(message, seconds) {
    const hub = message.hub;
    const workers = Object.values(hub.workers || {});
    const sum = (key) => workers.reduce((total, w) => total + (w[key] || 0), 0);
    const rate = (now, before) => (before === null ? 0 : Math.max(0, (now - before) / seconds));
    const entriesRate = rate(hub.accepted, this.lastAccepted);
    const connectionsRate = rate(hub.connections || 0, this.lastConnections);
    this.lastAccepted = hub.accepted;
    this.lastConnections = hub.connections || 0;
    this.drawCapture(workers);
    this.drawWorkers(workers);
    const parts = [
      `${connectionsRate.toFixed(0)} connections/s`,
      `${entriesRate.toFixed(0)} entries/s`,
      `packets ${sum("packets").toLocaleString()}`,
      `kernel drops ${sum("kernelDrops").toLocaleString()}`,
      `malformed ${sum("malformed").toLocaleString()}`,
      `worker drops ${sum("entriesDropped").toLocaleString()}`,
      `lost ${(hub.lost || 0).toLocaleString()}`,
      `lag ${hub.lagSeconds}s`,
    ];
    this.el.stats.textContent = parts.join(" · ");
    const losses = sum("kernelDrops") + sum("entriesDropped") + (hub.lost || 0);
    this.el.stats.classList.toggle("warn", losses > 0);
    const global = hub.globalFilter || { query: "", excluded: 0 };
    this.el.excluded.textContent = global.excluded
      ? `global filter excluded ${global.excluded.toLocaleString()} entries`
      : "";
    this.el.excluded.title = global.query ? `the hub keeps only entries matching ${global.query}` : "";
  }

  drawCapture(workers) {
    const modes = [...new Set(workers.map((w) => w.mode).filter(Boolean))].sort();
    const capture = this.el.capture;
    if (modes.length === 0) {
      capture.textContent = "capture mode unknown (no worker has reported)";
      capture.title = "";
      return;
    }
    capture.textContent = `capture: ${modes.map((mode) => `${mode} mode`).join(" and ")}`;
    capture.title = modes.map((mode) => MODES[mode] || `${mode} mode`).join("\n");
    if (modes.includes("connections")) capture.textContent += " (no non-DNS UDP, no payloads)";
  }

  drawWorkers(workers) {
    const element = this.el.workers;
    if (workers.length === 0) {
      element.textContent = "no worker has reported yet";
      element.dataset.states = "";
      return;
    }
    const reading = this.recording && !this.recording.loop;
    const items = workers
      .map((w) => {
        const state = reading ? "read" : workerState(w.age);
        const since = state === "up" || state === "read" || w.age === null ? "" : ` (last report ${ago(w.age * 1000)})`;
        return { node: w.node || "?", state, text: `${w.node || "?"} ${state === "read" ? `read ${this.recording.name}` : state}${since}` };
      })
      .sort((a, b) => a.node.localeCompare(b.node));
    const label = workers.length === 1 ? "worker" : `${workers.length} workers`;
    element.textContent = `${label}: ${items.map((item) => item.text).join(", ")}`;
    element.dataset.states = items.map((item) => item.state).join(" ");
    element.classList.toggle("warn", items.some((item) => item.state === "lagging" || item.state === "gone"));
  }

  /** Show the targeting ({spec, coverage} from the stats or /api/targeting); null: none here. */
  targeting(body) {
    if (body === null) {
      this.el.targeting.textContent = "";
      this.el.notTargeted.textContent = "";
      return;
    }
    const { spec, coverage } = body;
    const parts = [`targeting ${count(coverage.targeted, "pod")}`];
    if (spec.podRegex) parts.push(`matching ${kflLiteral(spec.podRegex)}`);
    parts.push(spec.namespaces.length ? `in namespaces ${spec.namespaces.join(", ")}` : "in all namespaces");
    if (spec.excludedNamespaces.length) parts.push(`except ${spec.excludedNamespaces.join(", ")}`);
    this.el.targeting.textContent = parts.join(" ");
    const left = coverage.notTargeted;
    const where = coverage.notTargetedNamespaces;
    this.el.notTargeted.textContent = left ? `${count(left, "pod")} not targeted (${shortList(where)})` : "";
    this.el.notTargeted.title = left ? `pods whose traffic is not captured, in ${where.join(", ")}` : "";
  }
}

/** "1 pod", "3 pods". */
function count(n, noun) {
  return `${n.toLocaleString()} ${noun}${n === 1 ? "" : "s"}`;
}

/** At most three names, then how many more. */
function shortList(names) {
  return names.length <= 3 ? names.join(", ") : `${names.slice(0, 3).join(", ")} and ${names.length - 3} more`;
}
