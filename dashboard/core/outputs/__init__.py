"""What the hub serves from its entries: the connectivity maps, export, metrics and the Grafana node
graph."""
