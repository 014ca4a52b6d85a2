"""Inference on the model (MODEL.md §4–5): the exact engine, the PyMC sampler (the only place
pymc, pytensor and arviz are imported, with every PyMC internal behind `pymc_adapter`), interrupting a run (`interrupt`: SIGTERM/SIGHUP like Ctrl-C, nothing partial kept), one update
as a library call (`UpdateResult`), scenarios and what-ifs, the value of information, and the one JSON shape of a hypothesis'
states (`states`). Never
prints, never touches the store. May import: core, model."""
