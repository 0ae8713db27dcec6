// Formatting of entry values for the log, details pane and map labels.

/** "12:03:04.567" in local time. */
export function clock(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Human byte count: 512 B, 2.0 KB, 3.4 MB. */
export function bytes(n) {
  if (n === undefined || n === null) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(1)} GB`;
}

/**
 * "sent / received" of an entry. A TCP size the worker could not know (a connection whose start
 * connections mode did not see: no requestSize/responseSize on the wire) reads "unknown", never 0.
 */
export function sizes(entry) {
  const one = (n) => (n === undefined || n === null ? (entry.tcp ? "unknown" : "") : bytes(n));
  return `${one(entry.requestSize)} / ${one(entry.responseSize)}`;
}

/** "2026-12-03 15:49:19.123" in local time, and how long ago from ``now`` ("3 min ago"). */
export function dateTime(ms, now = Date.now()) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${day} ${clock(ms)} (${ago(now - ms)})`;
}

/** A time span in ms before now as words: "just now", "12 s ago", "3 min ago", "2 h ago". */
export function ago(ms) {
  const seconds = Math.round(ms / 1000);
  if (seconds < 1) return "just now";
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

/** Duration in ms as "850 ms" or "12.3 s". */
export function duration(ms) {
  if (ms === undefined || ms === null) return "";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A KFL literal for a JS value: quoted string, number or boolean. */
export function kflLiteral(value) {
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null || value === undefined) return "null";
  return JSON.stringify(String(value));
}

/** What a connection row says of a TCP event: open while it lasts, then how it ended. */
const CONNECTION_STATES = { connect: "open", ongoing: "open", close: "closed" };

/** The event of an entry: the TCP event, the DNS rcode, the ICMP message or "". */
export function eventOf(entry) {
  if (entry.tcp && entry.tcp.event) return entry.tcp.event;
  if (entry.dns) return entry.dns.rcode || "answer";
  if (entry.icmp) return entry.icmp.message || `type ${entry.icmp.type}`;
  return "";
}

const FAILED = new Set(["reset", "refused", "timeout"]);

/** True for connections that failed (reset, refused, timeout, DNS error, ICMP error). */
export function failed(entry) {
  if (entry.tcp) return FAILED.has(entry.tcp.event);
  if (entry.dns) return Boolean(entry.dns.rcode) && entry.dns.rcode !== "NOERROR";
  return Boolean(entry.icmp);
}

/** An endpoint's display name: name, else ip. */
export function endpointName(endpoint) {
  return endpoint.name || endpoint.ip;
}

/** A connection's state from its latest TCP event: open, closed, reset, refused, timeout. */
export function connectionState(event) {
  return CONNECTION_STATES[event] ?? event;
}

/**
 * The flow an entry is about: {protocol, src, dst, srcPath, dstPath, reporter}. For an ICMP
 * error that is the flow it reports as failed (its quoted 5-tuple), each end named where it is
 * one of the error's own ends (its path then "src" or "dst", else "icmp.about.src" or
 * "icmp.about.dst"); ``reporter`` is the error's sender. Any other entry: its own ends.
 */
export function flowOf(entry) {
  const about = entry.icmp && entry.icmp.about;
  if (!about) {
    return { protocol: entry.protocol.name, src: entry.src, dst: entry.dst, srcPath: "src", dstPath: "dst", reporter: null };
  }
  const named = (address, side) => {
    for (const path of ["dst", "src"]) {
      if (entry[path].ip === address.ip) return [{ ...entry[path], port: address.port }, path];
    }
    return [{ ip: address.ip, port: address.port, name: "", namespace: "", kind: "unknown" }, `icmp.about.${side}`];
  };
  const [src, srcPath] = named(about.src, "src");
  const [dst, dstPath] = named(about.dst, "dst");
  return { protocol: about.protocol, src, dst, srcPath, dstPath, reporter: entry.src };
}

/** "ip:port", with the IPv6 address in brackets. */
export function hostPort(endpoint) {
  return endpoint.ip.includes(":") ? `[${endpoint.ip}]:${endpoint.port}` : `${endpoint.ip}:${endpoint.port}`;
}
