"""objstore: a Swift-compatible distributed object store."""
