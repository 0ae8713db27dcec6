"""The network-namespace lab: a Kubernetes node made of real namespaces, veths and a bridge,
for tests, benchmarks and the demo."""
