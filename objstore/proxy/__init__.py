"""The proxy: the public Swift API (issue #4, in progress)."""
