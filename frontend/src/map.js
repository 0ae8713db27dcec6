// The connectivity map: cytoscape graph of the session's map messages, updated in place.

import cytoscape from "cytoscape";
import { bytes, kflLiteral } from "./format.js";

/** A stable colour per namespace. */
export function namespaceColour(namespace) {
  if (!namespace) return "#ffffff";
  let hash = 0;
  for (const ch of namespace) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360}, 55%, 70%)`;
}

function width(data, by) {
  const amount = by === "bytes" ? data.requestBytes + data.responseBytes : data.connections;
  return Math.min(14, 1.5 + Math.log2(1 + amount));
}

const STYLE = [
  {
    selector: "node",
    style: {
      label: "data(shown)", "background-color": "data(colour)", "font-size": 11, "text-valign": "bottom",
      "text-margin-y": 4, width: 28, height: 28, "border-width": 1, "border-color": "#555",
    },
  },
  { selector: "node[kind = 'external']", style: { shape: "round-diamond", "border-width": 3, "border-color": "#d11", width: 34, height: 34, color: "#a00" } },
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
];

/** The KFL condition for one side ("src" or "dst") being the given map node. */
export function endpointCondition(data, side) {
  const ns = `${side}.namespace == ${kflLiteral(data.namespace)}`;
  if (data.kind === "namespace") return ns;
  if (data.kind === "workload") return `${side}.workload == ${kflLiteral(data.label)} and ${ns}`;
  if (data.kind === "pod") return `${side}.pod == ${kflLiteral(data.label)} and ${ns}`;
  return `${side}.name == ${kflLiteral(data.label)}`;
}

/** The KFL condition for traffic touching one map node, on either side. */
export function nodeCondition(data) {
  return `(${endpointCondition(data, "src")}) or (${endpointCondition(data, "dst")})`;
}

export class ConnectivityMap {
  /** container: the map element; info: hover text; legend: namespace swatches; onFilter(condition). */
  constructor(container, info, legend, onFilter) {
    this.info = info;
    this.legend = legend;
    this.widthBy = "connections";
    this.cy = cytoscape({ container, style: STYLE, minZoom: 0.2, maxZoom: 1.6 });
    this.cy.on("tap", "node", (event) => onFilter(nodeCondition(event.target.data())));
    this.cy.on("tap", "edge", (event) => {
      const edge = event.target;
      onFilter(`${endpointCondition(edge.source().data(), "src")} and ${endpointCondition(edge.target().data(), "dst")}`);
    });
    this.cy.on("mouseover", "node, edge", (event) => this.hover(event.target.data()));
    this.cy.on("mouseout", "node, edge", () => { this.info.textContent = ""; });
    new ResizeObserver(() => {
      this.cy.resize();
      this.cy.fit(undefined, 30);
    }).observe(container);
  }

  hover(data) {
    const name = data.shown || `${data.source} → ${data.target}`;
    this.info.textContent = `${name}: ${data.connections} connections, ${data.failed} failed, ${bytes(data.requestBytes)} ↑ ${bytes(data.responseBytes)} ↓`;
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
        const qualified = node.namespace && (node.kind === "workload" || node.kind === "pod");
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
        const data = { ...edge, width: width(edge, this.widthBy) };
        const existing = cy.getElementById(edge.id);
        if (existing.nonempty()) existing.data(data);
        else cy.add({ group: "edges", data });
      }
    });
    if (added) this.layout();
    cy.scratch("version", message.version);
    this.drawLegend(message.nodes);
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

  /** Clear the graph (the level changed). */
  clear() {
    this.cy.elements().remove();
  }

  layout() {
    this.cy.layout({ name: "cose", animate: false, randomize: false, fit: true, padding: 30, nodeRepulsion: () => 9000, idealEdgeLength: () => 90 }).run();
  }

  /** Edge width by "connections" or "bytes" (the legend says which). */
  setWidthBy(by) {
    this.widthBy = by;
    this.cy.edges().forEach((edge) => edge.data("width", width(edge.data(), by)));
  }
}
