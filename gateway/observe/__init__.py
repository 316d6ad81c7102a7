"""Logs (phone numbers masked, secrets never written) and Prometheus metrics."""
