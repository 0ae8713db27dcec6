// The /ws/live websocket client: reconnects with growing delays, acks rendered batches, reports
// status. A socket counts as connected once the hub says hello: a full hub accepts the socket,
// says why in an error message and closes it (4429), and must not reset the delay.

export const FIRST_BACKOFF_MS = 1000;
export const MAX_BACKOFF_MS = 30000;
const LOGIN_REQUIRED = 4401;
export const TOO_MANY_SESSIONS = 4429;

export class LiveSocket {
  /**
   * handlers: {onMessage(msg), onStatus(status, detail)}; status is connecting, live,
   * reconnecting (detail: {delay} in ms) or full (detail: {delay, reason}: the hub's words).
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.backoff = FIRST_BACKOFF_MS;
    this.paused = false;
    this.reason = "";
  }

  /** Open the socket (and reopen it whenever it closes). */
  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws/live`);
    this.socket = socket;
    this.reason = "";
    socket.addEventListener("open", () => {
      if (this.paused) this.send({ type: "pause" });
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        this.handlers.onMessage({ type: "error", message: "server sent a message that is not JSON" });
        return;
      }
      if (message.type === "hello") {
        this.backoff = FIRST_BACKOFF_MS; // in: the next drop starts over with a short delay
        this.handlers.onStatus("live");
      } else if (message.type === "error" && !this.reason) {
        this.reason = message.message; // a refusal comes just before the close
      }
      this.handlers.onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      if (event.code === LOGIN_REQUIRED) {
        location.assign(`/login/?next=${encodeURIComponent(location.pathname + location.search)}`);
        return;
      }
      const delay = this.backoff;
      const full = event.code === TOO_MANY_SESSIONS;
      this.handlers.onStatus(full ? "full" : "reconnecting", { delay, reason: full ? this.reason : "" });
      setTimeout(() => this.connect(), delay);
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    });
  }

  /** Send one protocol message if the socket is open; false if it was not. */
  send(message) {
    if (this.socket === null || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Apply a KFL query. */
  setFilter(query) {
    this.send({ type: "filter.set", query });
  }

  /** Switch the map level, and whether it draws Services (workload and pod levels). */
  setLevel(level, services) {
    this.send({ type: "map.level", level, services });
  }

  /** Pause or resume the entry stream (kept across reconnects). */
  setPaused(paused) {
    this.paused = paused;
    this.send({ type: paused ? "pause" : "resume" });
  }

  /** Tell the server every entries message up to seq is rendered. */
  ack(seq) {
    this.send({ type: "ack", seq });
  }
}
