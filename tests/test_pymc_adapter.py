"""The PyMC/PyTensor internals the sampler relies on are all still where it expects them.

If this fails after a PyMC or PyTensor upgrade, the message names the internal and the installed
versions: follow it in forecaster/inference/pymc_adapter.py before anything else."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_every_internal_is_where_the_adapter_expects_it() -> None:
    from forecaster.inference import pymc_adapter

    problems = pymc_adapter.check()
    assert not problems, "PyMC/PyTensor internals moved:\n" + "\n".join(problems)


@pytest.mark.slow
def test_only_the_adapter_reaches_into_internals() -> None:
    import re
    from pathlib import Path

    import forecaster

    internal = re.compile(r"_pytensor_function|GCC_compiler|backends\.ndarray|\bmarch_flags\b")
    root = Path(forecaster.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "pymc_adapter.py" and internal.search(p.read_text(encoding="utf-8"))]
    assert not offenders, f"PyMC/PyTensor internals used outside pymc_adapter.py: {offenders}"
