"""``python3 -m objstore.aio``: the same as ``objstore-aio``."""
from objstore.aio.cli import main

main()
