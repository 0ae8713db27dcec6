"""The network-namespace lab: a Kubernetes node made of real namespaces, veths and iptables, for
tests, benchmarks and the demo."""
