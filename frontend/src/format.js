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
