"""objstore-aio: a whole local cluster from one command (issue #4).

    objstore-aio [start] [--data-dir DIR] [--port 8080] [--detach]
    objstore-aio stop [--data-dir DIR]
    objstore-aio status [--data-dir DIR]

``layout``: the servers, their ports and the data directory's paths;
``files``: what the directory holds (configs, secrets, rings), made once;
``processes``: starting, watching and stopping servers by process group;
``cli``: the three commands and their exit codes.
"""
from objstore.aio.cli import main

__all__ = ["main"]
