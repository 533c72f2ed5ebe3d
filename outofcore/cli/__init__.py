"""The ``outofcore`` command (its modules are imported by the command only)."""

import time

# When this package was first imported: the command's own start, give or take the interpreter's
# start-up (see ``timing.waited``).
IMPORTED = time.monotonic()
