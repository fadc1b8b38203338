"""The account server's side of the cluster: the account database (broker)."""
