"""The send use case: the outbox (the only writers of delivery and send rows), the drain
loop that owns it and its sender processes, the daemon, reports for operators, Prometheus
metrics, and erasure (store and outbox together)."""
