// The connectivity map: cytoscape graph of the session's map messages, updated in place, usable
// with the mouse (hover, click) and the keyboard (arrows select a node, Enter filters to it).

import cytoscape from "cytoscape";
import { bytes, kflLiteral } from "./format.js";

/** A stable colour per namespace. */
export function namespaceColour(namespace) {
  if (!namespace) return "#ffffff";
  let hash = 0;
  for (const ch of namespace) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360}, 55%, 70%)`;
}

export const MIN_WIDTH = 1.5;
export const MAX_WIDTH = 14;

function amountOf(data, by) {
  return by === "bytes" ? data.requestBytes + data.responseBytes : data.connections + data.failed;
}

/**
 * Edge widths on a log scale between the map's smallest and largest amount (bytes, or
 * connections and failures), so that 271 KB and 1.08 MB differ as 1 KB and 4 KB do:
 * ``amounts`` in, widths in the same order out.
 */
export function logWidths(amounts) {
  const logs = amounts.map((amount) => Math.log1p(Math.max(0, amount)));
  const low = Math.min(...logs);
  const span = Math.max(...logs) - low;
  return logs.map((value) => (span > 0 ? MIN_WIDTH + ((MAX_WIDTH - MIN_WIDTH) * (value - low)) / span : (MIN_WIDTH + MAX_WIDTH) / 3));
}

const STYLE = [
  {
    selector: "node",
    style: {
      label: "data(shown)", "background-color": "data(colour)", "font-size": 11, "text-valign": "bottom",
      "text-margin-y": 4, width: 28, height: 28, "border-width": 1, "border-color": "#555",
      "text-background-color": "#fff", "text-background-opacity": 0.85, "text-background-padding": 1, // readable over edges
    },
  },
  { selector: "node[kind = 'external']", style: { shape: "round-diamond", "border-width": 3, "border-color": "#d11", width: 34, height: 34, color: "#a00" } },
  {
    selector: "node[kind = 'service']", // a Service between callers and backends: a tag, dashed
    style: { shape: "round-tag", width: 30, height: 22, "border-width": 2, "border-style": "dashed", "border-color": "#3b4a66", "font-style": "italic" },
  },
  { selector: "node[failed > 0]", style: { "border-color": "#d11", "border-width": 2 } },
  {
    selector: "edge",
    style: {
      width: "data(width)", "line-color": "#8a9bb0", "target-arrow-color": "#8a9bb0", "target-arrow-shape": "triangle",
      "curve-style": "bezier", "arrow-scale": 0.8,
    },
  },
  { selector: "edge[failed > 0]", style: { "line-color": "#d11", "target-arrow-color": "#d11" } },
  { selector: ":selected", style: { "overlay-color": "#36f", "overlay-opacity": 0.2 } },
  {
    selector: "node.keyboard",
    style: { "border-color": "#2f6fd6", "border-width": 4, "overlay-color": "#2f6fd6", "overlay-opacity": 0.18, "overlay-padding": 8 },
  },
];

const ZOOM_STEP = 1.25;
const QUALIFIED = new Set(["workload", "pod", "service"]); // labelled namespace/name
const FIT_PADDING = 30;

/** Nodes in keyboard order: cluster nodes before the rest (external, unknown), then by name. */
function keyboardOrder(a, b) {
  const outside = Number(!a.data("namespace")) - Number(!b.data("namespace"));
  return outside || a.data("shown").localeCompare(b.data("shown"));
}

/** The words a person (or a screen reader) gets for one map node. */
export function describeNode(data) {
  const failed = data.failed ? `, ${data.failed} failed` : ", none failed";
  return `${data.kind} ${data.shown}: ${data.connections} connections${failed}, ${bytes(data.requestBytes)} sent, ${bytes(data.responseBytes)} received`;
}

/**
 * The KFL condition for connections through a Service node: dialed at its address and sent on
 * to a pod (nat.dialed), or refused at the address itself (the Service is the destination).
 */
export function serviceCondition(data) {
  return `dst.service == ${kflLiteral(data.label)} and dst.namespace == ${kflLiteral(data.namespace)} and (dst.kind == "service" or nat.dialed.port > 0)`;
}

/** The KFL condition for one side ("src" or "dst") being the given map node. */
export function endpointCondition(data, side) {
  if (data.kind === "service") return serviceCondition(data); // only ever dialed
  const ns = `${side}.namespace == ${kflLiteral(data.namespace)}`;
  if (data.kind === "namespace") return ns;
  if (data.kind === "workload") return `${side}.workload == ${kflLiteral(data.label)} and ${ns}`;
  if (data.kind === "pod") return `${side}.pod == ${kflLiteral(data.label)} and ${ns}`;
  return `${side}.name == ${kflLiteral(data.label)}`;
}

/** The KFL condition for traffic touching one map node, on either side. */
export function nodeCondition(data) {
  if (data.kind === "service") return serviceCondition(data);
  return `(${endpointCondition(data, "src")}) or (${endpointCondition(data, "dst")})`;
}

/** The KFL condition for the connections of one edge (a hop from a Service: to that backend). */
export function edgeCondition(source, target) {
  const from = source.kind === "service" ? serviceCondition(source) : endpointCondition(source, "src");
  return `${from} and ${endpointCondition(target, "dst")}`;
}

export class ConnectivityMap {
  /** elements: {container, info (hover and selection, aria-live), legend, zoomIn, zoomOut, fit}; onFilter(condition). */
  constructor(elements, onFilter) {
    const container = elements.container;
    this.info = elements.info;
    this.legend = elements.legend;
    this.onFilter = onFilter;
    this.widthBy = "connections";
    this.selected = null; // the id of the node chosen with the keyboard
    this.cy = cytoscape({ container, style: STYLE, minZoom: 0.2, maxZoom: 1.6 });
    this.cy.on("tap", "node", (event) => onFilter(nodeCondition(event.target.data())));
    this.cy.on("tap", "edge", (event) => {
      const edge = event.target;
      onFilter(edgeCondition(edge.source().data(), edge.target().data()));
    });
    this.cy.on("mouseover", "node, edge", (event) => this.hover(event.target));
    this.cy.on("mouseout", "node, edge", () => this.announce());
    container.addEventListener("keydown", (event) => this.onKey(event));
    elements.zoomIn.addEventListener("click", () => this.zoomBy(ZOOM_STEP));
    elements.zoomOut.addEventListener("click", () => this.zoomBy(1 / ZOOM_STEP));
    elements.fit.addEventListener("click", () => this.fit());
    new ResizeObserver(() => {
      this.cy.resize();
      this.fit();
    }).observe(container);
  }

  /** Show the counts of the node or edge under the pointer. */
  hover(element) {
    const data = element.data();
    if (element.isNode()) {
      this.say(describeNode(data));
      return;
    }
    const ends = `${element.source().data("shown")} → ${element.target().data("shown")}`;
    this.say(`${ends}: ${data.connections} connections, ${data.failed} failed, ${bytes(data.requestBytes)} ↑ ${bytes(data.responseBytes)} ↓`);
  }

  /** Write the info line (also its title: the line may be cut at narrow widths). */
  say(text) {
    this.info.textContent = text;
    this.info.title = text;
  }

  /** Keys on the focused map: arrows/Home/End select, Enter filters, Escape clears, +/-/0 zoom. */
  onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return; // the browser's own shortcuts
    const actions = {
      ArrowRight: () => this.step(1),
      ArrowDown: () => this.step(1),
      ArrowLeft: () => this.step(-1),
      ArrowUp: () => this.step(-1),
      Home: () => this.choose(this.ordered()[0]),
      End: () => this.choose(this.ordered().at(-1)),
      Enter: () => this.filterToSelected(),
      " ": () => this.filterToSelected(),
      Escape: () => this.choose(undefined),
      "+": () => this.zoomBy(ZOOM_STEP),
      "=": () => this.zoomBy(ZOOM_STEP),
      "-": () => this.zoomBy(1 / ZOOM_STEP),
      0: () => this.fit(),
    };
    const action = actions[event.key];
    if (action === undefined) return;
    event.preventDefault();
    action();
  }

  /** The nodes in keyboard order. */
  ordered() {
    return this.cy.nodes().toArray().sort(keyboardOrder);
  }

  /** Select the next (+1) or previous (-1) node in keyboard order, wrapping around. */
  step(direction) {
    const nodes = this.ordered();
    if (nodes.length === 0) return;
    const at = nodes.findIndex((node) => node.id() === this.selected);
    const next = at < 0 ? (direction > 0 ? 0 : nodes.length - 1) : (at + direction + nodes.length) % nodes.length;
    this.choose(nodes[next]);
  }

  /** Make one node the keyboard selection (undefined clears it), show it and announce it. */
  choose(node) {
    this.cy.nodes(".keyboard").removeClass("keyboard");
    this.selected = node === undefined ? null : node.id();
    if (node !== undefined) {
      node.addClass("keyboard");
      this.reveal(node);
    }
    this.announce();
  }

  /** The selection's description in the aria-live line, or the keys to use. */
  announce() {
    const node = this.selected === null ? null : this.cy.getElementById(this.selected);
    if (node === null || node.empty()) {
      this.say("");
      return;
    }
    const position = this.ordered().findIndex((n) => n.id() === this.selected) + 1;
    this.say(`${describeNode(node.data())} (${position} of ${this.cy.nodes().length}; Enter filters the log)`);
  }

  /** Pan so that the node is inside the visible part of the map. */
  reveal(node) {
    const at = node.renderedPosition();
    const margin = 40;
    if (at.x < margin || at.y < margin || at.x > this.cy.width() - margin || at.y > this.cy.height() - margin) {
      this.cy.center(node);
    }
  }

  filterToSelected() {
    const node = this.selected === null ? null : this.cy.getElementById(this.selected);
    if (node !== null && node.nonempty()) this.onFilter(nodeCondition(node.data()));
  }

  /** Zoom by a factor around the middle of the map (within the zoom limits). */
  zoomBy(factor) {
    const middle = { x: this.cy.width() / 2, y: this.cy.height() / 2 };
    this.cy.zoom({ level: this.cy.zoom() * factor, renderedPosition: middle });
  }

  /** Fit the whole map in view. */
  fit() {
    this.cy.fit(undefined, FIT_PADDING);
  }

  /** Replace the graph with a map message, keeping the positions of nodes already drawn. */
  update(message) {
    const cy = this.cy;
    const nodeIds = new Set(message.nodes.map((n) => n.id));
    const edgeIds = new Set(message.edges.map((e) => e.id));
    let added = false;
    cy.batch(() => {
      cy.elements().forEach((el) => {
        if (!(el.isNode() ? nodeIds : edgeIds).has(el.id())) el.remove();
      });
      for (const node of message.nodes) {
        const qualified = node.namespace && QUALIFIED.has(node.kind);
        const shown = qualified ? `${node.namespace}/${node.label}` : node.label;
        const data = { ...node, shown, colour: namespaceColour(node.namespace) };
        const existing = cy.getElementById(node.id);
        if (existing.nonempty()) existing.data(data);
        else {
          cy.add({ group: "nodes", data });
          added = true;
        }
      }
      for (const edge of message.edges) {
        const existing = cy.getElementById(edge.id);
        if (existing.nonempty()) existing.data(edge);
        else cy.add({ group: "edges", data: { ...edge, width: MIN_WIDTH } });
      }
      this.scaleEdges();
    });
    if (added) this.layout();
    cy.scratch("version", message.version);
    this.drawLegend(message.nodes);
    if (this.selected !== null && cy.getElementById(this.selected).empty()) this.choose(undefined);
  }

  drawLegend(nodes) {
    const namespaces = [...new Set(nodes.map((node) => node.namespace).filter(Boolean))].sort();
    this.legend.replaceChildren(
      ...namespaces.map((namespace) => {
        const item = document.createElement("span");
        const swatch = document.createElement("i");
        swatch.className = "lg-ns";
        swatch.style.background = namespaceColour(namespace);
        item.append(swatch, namespace);
        return item;
      }),
    );
  }

  /** Clear the graph and the selection (the level, or whether Services show, changed). */
  clear() {
    this.cy.elements().remove();
    this.choose(undefined);
  }

  layout() {
    this.cy.layout({ name: "cose", animate: false, randomize: false, fit: true, padding: FIT_PADDING, nodeDimensionsIncludeLabels: true, nodeRepulsion: () => 9000, idealEdgeLength: () => 90 }).run();
  }

  /** Edge width by "connections" or "bytes" (the legend says which). */
  setWidthBy(by) {
    this.widthBy = by;
    this.scaleEdges();
  }

  /** Give every edge its width on the log scale of the map's current amounts. */
  scaleEdges() {
    const edges = this.cy.edges();
    const widths = logWidths(edges.map((edge) => amountOf(edge.data(), this.widthBy)));
    edges.forEach((edge, i) => edge.data("width", widths[i]));
  }
}
