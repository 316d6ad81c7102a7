"""The JSON API (`/api/orders`, bearer token) and the health and metrics endpoints."""
