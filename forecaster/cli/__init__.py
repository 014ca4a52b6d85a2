"""The command layer: Typer commands only. Each reads its options, calls one core function,
maps known errors to an exit code and renders."""
