"""The object server, its on-disk format and (later) its daemons."""
