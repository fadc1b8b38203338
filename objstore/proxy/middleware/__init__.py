"""WSGI filters of the proxy pipeline, one module each."""
