// The /ws/live websocket client: reconnects with backoff, acks rendered batches, reports status.

const MAX_BACKOFF_MS = 10000;
const LOGIN_REQUIRED = 4401;

export class LiveSocket {
  /** handlers: {onMessage(msg), onStatus(status)}; status is connecting|live|reconnecting. */
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.backoff = 500;
    this.paused = false;
  }

  /** Open the socket (and reopen it whenever it closes). */
  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws/live`);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.backoff = 500;
      this.handlers.onStatus("live");
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
      this.handlers.onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      if (event.code === LOGIN_REQUIRED) {
        location.assign(`/login/?next=${encodeURIComponent(location.pathname + location.search)}`);
        return;
      }
      this.handlers.onStatus("reconnecting", event.code);
      setTimeout(() => this.connect(), this.backoff);
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

  /** Switch the map level. */
  setLevel(level) {
    this.send({ type: "map.level", level });
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
