"""The ``outofcore`` command (its modules are imported by the command only)."""
