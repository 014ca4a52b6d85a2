"""Every PyMC and PyTensor internal the sampler relies on, in one place.

The sampler (forecaster.inference.sampler) uses PyMC's public API for the model and for
`pm.sample`; for speed it also reaches past it in a few places, each listed here with what it
buys. When PyMC or PyTensor moves one of them, `check()` names it and the installed versions, and
tests/test_pymc_adapter.py fails with that message instead of a sampler crashing mid-run.

- `PYTENSOR_FLAGS=base_compiledir=…` set before PyTensor is imported: a compile cache of our own
  (a shared ~/.pytensor costs ≈0.4 s of indexing per process);
- `pymc.backends.ndarray.NDArray` subclassed as `PrecompiledTrace`: the trace's point function
  comes from our disk cache instead of being compiled in every process;
- `ValueGradFunction._pytensor_function` (`raw_function`): the compiled log-density and gradient,
  to set `trust_input`, to evaluate a cached function against its recorded values, and to find the
  shared evidence variable;
- `pytensor.link.c.cmodule.GCC_compiler.march_flags`: the -march flags g++ probing finds (≈0.5 s
  on the first compile of a process), kept in our cache;
- `pymc.step_methods.hmc.base_hmc.time`: HMC reads `time.process_time()` twice per draw for its
  `process_time_diff` statistic; that is a system call (CPU time summed over the process's
  threads), ≈10–20 µs on a quiet machine but milliseconds when the CPUs are contended, as the
  call hands the CPU back: with thousands of draws it cost more than the sampling. `fast_clock()`
  gives that module a clock whose `process_time` is the wall clock (`perf_counter`, no system
  call), so `process_time_diff` equals `perf_counter_diff`;
- `pymc.step_methods.hmc.quadpotential.QuadPotentialDiagAdapt` and
  `pymc.logprob.transforms.Transform`: documented classes, imported from their modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any


def _private_compiledir() -> None:
    """Give PyTensor a compile cache of its own, in the user cache folder.

    Every process that runs compiled code first indexes the whole compile cache (≈0.4 s for
    the few hundred modules a shared ~/.pytensor soon holds); ours holds only the ~60 modules
    this model needs. It must be set before PyTensor is imported, and yields to any compile
    directory the user configured. FORECAST_PYTENSOR_COMPILEDIR=0 turns it off; a path moves it.
    """
    choice = os.environ.get("FORECAST_PYTENSOR_COMPILEDIR", "").strip()
    if "pytensor" in sys.modules or choice.lower() in ("0", "off", "false", "no"):
        return
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "compiledir" in flags or os.environ.get("PYTENSORRC") or (Path.home() / ".pytensorrc").exists():
        return
    if choice and choice != "1":
        base = Path(choice)
    else:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("forecast", appauthor=False)) / "pytensor"
    if "," in str(base):  # PYTENSOR_FLAGS is comma-separated
        return
    try:  # compiled modules are code: their folder is the user's alone, whatever the umask
        from forecaster.core.safe_cache import private_dir

        private_dir(base)
    except OSError:
        pass
    os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, f"base_compiledir={base}") if f)


_private_compiledir()

import pymc  # noqa: E402
import pytensor  # noqa: E402
from pymc.backends.ndarray import NDArray  # noqa: E402
from pymc.logprob.transforms import Transform  # noqa: E402
from pymc.step_methods.hmc.quadpotential import QuadPotentialDiagAdapt  # noqa: E402

__all__ = ["LogRatio", "PrecompiledTrace", "QuadPotentialDiagAdapt", "Transform", "check", "fast_clock", "raw_function",
           "march_flags_ok", "preset_march_flags", "store_march_flags"]


class PrecompiledTrace(NDArray):
    """PyMC's in-memory trace with a precompiled point function. `pm.sample` copies the trace
    it is given once per chain; a copy starts empty (a shallow copy would share storage)."""

    def __copy__(self) -> PrecompiledTrace:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.samples = {}
        new._stats = None
        new.draws = None
        new.draw_idx = 0
        return new



class _WallClock:
    """The `time` module, except that `process_time` is `perf_counter` (see the module docstring)."""

    process_time = staticmethod(time.perf_counter)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def fast_clock() -> None:
    """Give PyMC's HMC a clock without system calls (idempotent)."""
    from pymc.step_methods.hmc import base_hmc

    if getattr(base_hmc, "time", None) is time:
        base_hmc.time = _WallClock()  # type: ignore[assignment]


def raw_function(logp_dlogp: Any) -> Any:
    """The compiled PyTensor function inside PyMC's ValueGradFunction."""
    return logp_dlogp._pytensor_function


# The first C compilation in a process runs g++ several times to find the flags equivalent to
# -march=native (≈0.5 s). They depend only on the CPU and the compiler, so they are kept in the
# cache, keyed by both; PyTensor still keys every compiled module by the flags it uses.
_MARCH_PRESET = False


def _march_path(root: Path | None) -> Path | None:
    if root is None or sys.platform != "linux":
        return None
    try:
        from pytensor.configdefaults import gcc_version_str

        cpu = Path("/proc/cpuinfo").read_text(errors="replace")
        lines = sorted(
            {
                ln.strip()
                for ln in cpu.splitlines()
                if ln.split(":")[0].strip() in ("model name", "flags", "vendor_id", "cpu family", "model")
            }
        )
        c = pytensor.config
        key = hashlib.sha256(
            repr((lines, c.cxx, gcc_version_str, c.gcc__cxxflags, platform.machine(), pytensor.__version__)).encode()
        ).hexdigest()[:32]
        return root / f"march-{key}.json"
    except Exception:
        return None


def preset_march_flags(cache_root: Path | None) -> None:
    """Set PyTensor's -march flags from our cache (saves ≈0.5 s of g++ probing on the first compile)."""
    global _MARCH_PRESET
    try:
        from pytensor.link.c.cmodule import GCC_compiler

        if GCC_compiler.march_flags is not None or "-march" in pytensor.config.gcc__cxxflags:
            return
        path = _march_path(cache_root)
        if path is None or cache_root is None or not path.is_file():
            return
        from forecaster.core.safe_cache import trusted_file

        if not trusted_file(path, root=cache_root):  # someone else could have written it
            return
        flags = json.loads(path.read_text())
        if march_flags_ok(flags):  # they reach g++'s command line: -march/-mtune/-m<feature> and cache sizes only
            GCC_compiler.march_flags = flags
            _MARCH_PRESET = True
    except Exception:
        return


def store_march_flags(cache_root: Path | None) -> None:
    """Keep the flags PyTensor probed, for the next process."""
    if _MARCH_PRESET:
        return
    try:
        from pytensor.link.c.cmodule import GCC_compiler

        flags = GCC_compiler.march_flags
        path = _march_path(cache_root)
        if flags is None or path is None or path.is_file():
            return
        if not march_flags_ok(list(flags)):
            return
        from forecaster.core.safe_cache import write_private

        write_private(path, json.dumps(list(flags)).encode())  # 0600 in a 0700 folder, whatever the umask
    except Exception:
        return


_MACHINE_FLAG = re.compile(r"-m(arch|tune)=[A-Za-z0-9_.+-]{1,40}|-m(no-)?[a-z0-9][a-z0-9.-]{0,30}")
_CACHE_PARAM = re.compile(r"(l1-cache-size|l1-cache-line-size|l2-cache-size)=[0-9]{1,9}")


def march_flags_ok(flags: Any) -> bool:
    """Whether cached -march flags are what g++'s probing gives and nothing else: a list of at most
    300 `-march=`/`-mtune=`/`-m[no-]feature` flags and `--param` cache sizes. Anything else (an
    `-fplugin=`, `-o`, `-B`, `-specs=` planted in the cache) is refused and probed afresh."""
    if not isinstance(flags, list) or len(flags) > 300 or not all(isinstance(f, str) for f in flags):
        return False
    i = 0
    while i < len(flags):
        if flags[i] == "--param":
            if i + 1 >= len(flags) or not _CACHE_PARAM.fullmatch(flags[i + 1]):
                return False
            i += 2
            continue
        if not _MACHINE_FLAG.fullmatch(flags[i]):
            return False
        i += 1
    return True



def check() -> list[str]:
    """The internals above that the installed PyMC/PyTensor no longer has, each with the versions."""
    versions = f"pymc {pymc.__version__}, pytensor {pytensor.__version__}"
    problems = []
    for attr in ("samples", "_stats", "draws", "draw_idx"):
        probe = NDArray.__init__.__code__.co_names + NDArray.setup.__code__.co_names + NDArray.record.__code__.co_names
        if attr not in probe:
            problems.append(f"pymc.backends.ndarray.NDArray no longer uses {attr!r} ({versions}): PrecompiledTrace.__copy__ must follow")
    try:
        from pymc.model.core import ValueGradFunction

        if "_pytensor_function" not in ValueGradFunction.__init__.__code__.co_names:
            problems.append(f"pymc ValueGradFunction has no _pytensor_function ({versions}): raw_function must follow")
    except ImportError:
        problems.append(f"pymc.model.core.ValueGradFunction moved ({versions})")
    try:
        from pytensor.link.c.cmodule import GCC_compiler

        if not hasattr(GCC_compiler, "march_flags"):
            problems.append(f"pytensor GCC_compiler.march_flags is gone ({versions}): the march-flag cache must follow")
    except ImportError:
        problems.append(f"pytensor.link.c.cmodule.GCC_compiler moved ({versions})")
    try:
        from pymc.step_methods.hmc import base_hmc

        if not isinstance(getattr(base_hmc, "time", None), type(time) | _WallClock):
            problems.append(f"pymc.step_methods.hmc.base_hmc no longer imports time ({versions}): fast_clock must follow")
    except ImportError:
        problems.append(f"pymc.step_methods.hmc.base_hmc moved ({versions})")
    for name in ("forward", "backward", "log_jac_det"):
        if not hasattr(Transform, name):
            problems.append(f"pymc.logprob.transforms.Transform has no {name!r} ({versions}): LogRatio must follow")
    return problems


# The simplex transform the sampler's Dirichlets use: a subclass of PyMC's Transform.
import pytensor.tensor as pt  # noqa: E402


class LogRatio(Transform):
    """Additive log-ratio coordinates for a simplex (last axis): θ = softmax([y, 0]).

    The log-Jacobian of y ↦ θ is Σ_k log θ_k, so a Dirichlet(α) in these coordinates has the
    log-density Σ_k α_k log θ_k + const: a smaller graph (and gradient) than PyMC's default
    simplex transform, for the same distribution of θ.
    """

    name = "logratio"

    def forward(self, value, *inputs):
        log_value = pt.log(value)
        return log_value[..., :-1] - log_value[..., -1:]

    def backward(self, value, *inputs):
        return pt.special.softmax(_pad_zero(value), axis=-1)

    def log_jac_det(self, value, *inputs):
        return pt.sum(pt.special.log_softmax(_pad_zero(value), axis=-1), axis=-1)


def _pad_zero(value):
    return pt.concatenate([value, pt.zeros_like(value[..., :1])], axis=-1)


def idata_from_netcdf(raw: bytes) -> Any:
    """(ArviZ I/O, kept beside the PyMC internals so that only the sampler and this module import
    PyMC, PyTensor or ArviZ.) NetCDF bytes (a recorded run's draws) -> ArviZ InferenceData, read into memory."""
    import tempfile

    import arviz as az

    with tempfile.TemporaryDirectory(prefix="forecast-draws-") as d:
        path = Path(d) / "draws.nc"
        path.write_bytes(raw)
        idata = az.from_netcdf(path)
        idata.load()
        return idata
