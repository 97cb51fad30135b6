"""The ``s2f`` command line and the demo: orchestration above ``speech2face``, ``audit`` and
``reports``. Nothing below imports it."""
