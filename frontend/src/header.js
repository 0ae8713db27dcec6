// The header: streaming status, pause/resume, capture stats, the targeting summary and what this
// tab is not seeing (entries it missed, pods the targeting leaves out).

import { kflLiteral } from "./format.js";

export class Header {
  /** elements: {status, pause, stats, missed, targeting, notTargeted}; onPause(paused). */
  constructor(elements, onPause) {
    this.el = elements;
    this.paused = false;
    this.connection = "connecting";
    this.missed = 0;
    this.lastAccepted = null;
    elements.pause.addEventListener("click", () => {
      this.paused = !this.paused;
      onPause(this.paused);
      this.draw();
    });
  }

  /** The socket's state: connecting, live or reconnecting. */
  setConnection(state) {
    this.connection = state;
    this.draw();
  }

  /** Count entries the server dropped for this tab. */
  addMissed(count) {
    if (!count) return;
    this.missed += count;
    this.el.missed.textContent = `missed ${this.missed.toLocaleString()} entries (tab too slow)`;
  }

  draw() {
    const state = this.connection === "live" && this.paused ? "paused" : this.connection;
    this.el.status.dataset.status = state;
    this.el.status.textContent = state;
    this.el.pause.textContent = this.paused ? "Resume" : "Pause";
    this.el.pause.setAttribute("aria-pressed", String(this.paused));
  }

  /** Show a stats message: packets, kernel drops, malformed, entries lost, entries/s, lag. */
  stats(message, seconds) {
    const workers = Object.values(message.hub.workers || {});
    const sum = (key) => workers.reduce((total, w) => total + (w[key] || 0), 0);
    const accepted = message.hub.accepted;
    const rate = this.lastAccepted === null ? 0 : Math.max(0, (accepted - this.lastAccepted) / seconds);
    this.lastAccepted = accepted;
    const parts = [
      `${workers.length} workers`,
      `packets ${sum("packets").toLocaleString()}`,
      `kernel drops ${sum("kernelDrops").toLocaleString()}`,
      `malformed ${sum("malformed").toLocaleString()}`,
      `worker drops ${sum("entriesDropped").toLocaleString()}`,
      `lost ${(message.hub.lost || 0).toLocaleString()}`,
      `${rate.toFixed(0)} entries/s`,
      `lag ${message.hub.lagSeconds}s`,
    ];
    this.el.stats.textContent = parts.join(" · ");
    const losses = sum("kernelDrops") + sum("entriesDropped") + (message.hub.lost || 0);
    this.el.stats.classList.toggle("warn", losses > 0);
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
