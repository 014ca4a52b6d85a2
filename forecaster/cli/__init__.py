"""The command layer: Typer commands only. Each reads its options, calls one core function,
maps known errors to an exit code (2 bad input, 1 failure) and renders. The only layer that
catches `ForecastError`s. `console` is every output's one way to the terminal (control characters shown, no markup read
in user text); `failures` turns any other exception into one line; `window` tells which reports the model ignores; `history_rows` prints
history as JSON and CSV. May import: every layer.
"""
