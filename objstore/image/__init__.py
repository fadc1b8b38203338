"""The image service: a Glance v2-compatible image API that keeps its
records and data in the cluster (see ``app.py`` for the map)."""
