"""The ``loopml`` command (Typer + Rich)."""
