"""Background daemons: what each pass does, and one runner for all of them.

``base``: the options every daemon has, the ``Daemon`` class (a pass over
local devices, per-device concurrency) and its per-pass counters;
``runner``: the process around a daemon (``--once``, intervals, signals,
config reloads, exit codes) and its console scripts' ``main``;
``recon``: the per-node JSON file where each daemon records its passes;
``local_devices``: which of a ring's devices are this node's;
``ratelimit``: pacing work to so many units per second.
"""
