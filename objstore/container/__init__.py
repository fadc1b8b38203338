"""The container server's side of the cluster: the container database (broker)."""
