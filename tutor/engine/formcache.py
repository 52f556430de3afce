"""Derived local forms kept between runs: a form is derived by SymPy once per machine, not once per run.

A local form (an activation and its derivative, a loss's gradient, d net/d w) is the same on every run, so the
first run that derives it stores it, and later runs load it instead of differentiating and lambdifying again
(which also spares them SymPy's lazy import of ``sympy.tensor`` and ``sympy.combinatorics``, which evaluated
arithmetic pulls in).

The cache is one file per key in the user's cache folder (beside the compiled templates). The key is a hash
of the source of every module a form depends on (the rule registry, the engines that derive, the placeholders),
SymPy's and Python's versions: an edited rule, or another SymPy, reads another file, so a stale form is never
used. Each entry holds the expression (pickled, and rebuilt with SymPy's evaluation off, so that it is the
same tree that was stored) and its lambdified evaluator's code, whose global names are resolved against an
allowlist of modules (math, builtins, the tutor's own float functions). The file is read only when the current
user owns it and no one else may write to it; a damaged or foreign file is ignored and the forms are derived.
Writes go to a temporary file renamed into place, once, when the process exits: concurrent runs never see a
partial file, and the last to finish keeps its entries. ``BACKPROP_TUTOR_NO_CACHE`` turns the cache off.
"""

from __future__ import annotations

import atexit
import builtins
import hashlib
import importlib
import marshal
import os
import pickle
import sys
import tempfile
import types
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any, Callable

from .steps import Form, placeholder_index

FORMAT = 2  # 2: a bare form stores its placeholders' count
MAX_BYTES = 8 * 1024 * 1024  # the file stops growing here (a network at the spec's limit takes about 0.3 MB)

# The folders whose modules a form may depend on (the rule registry, the engines that derive, the placeholders):
# editing any module in them changes the key. All of them, not a list of files, so that a module split or
# added there cannot leave a stale form behind.
FOLDERS = ("spec", "engine")
# Where a lambdified evaluator's global names may come from.
_MODULES = (
    "math",
    "builtins",
    "tutor.engine.symbolic",
    "tutor.engine.sym_forms",  # where symbolic's float functions (_heaviside, _exp) live
    "tutor.spec.graphrules",
    "tutor.spec.rules",
)

_loaded: dict[str, bytes] | None = None  # key -> pickled entry, as read from the file
_pending: dict[str, bytes] = {}  # entries derived in this process, written at exit
_state = {"hits": 0, "misses": 0}  # for the tests: whether a form came from the file
_wrappers: list = []  # every derived function's in-process cache, which reset() clears


def _package() -> Path:
    return Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def registry_key() -> str:
    """A hash of the modules in FOLDERS, SymPy's version and Python's (the evaluators' code is marshalled)."""
    import sympy

    h = hashlib.sha256()
    h.update(f"{FORMAT} {sympy.__version__} {sys.version}".encode())
    root = _package()
    for path in sources(root):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"<missing>")
    return h.hexdigest()[:24]


def sources(root: Path) -> list[Path]:
    """The modules the key reads, in a fixed order."""
    return sorted(p for folder in FOLDERS for p in (root / folder).rglob("*.py"))  # spec/layers/ too


def cache_file() -> Path | None:
    """The cache file of this registry, or None when the cache is off."""
    if os.environ.get("BACKPROP_TUTOR_NO_CACHE"):
        return None
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "backprop-tutor" / f"forms-{registry_key()}.pickle"


def _read() -> dict[str, bytes]:
    global _loaded
    if _loaded is None:
        _loaded = {}
        path = cache_file()
        try:
            if path is not None and path.is_file() and _trusted(path):
                data = pickle.loads(path.read_bytes())
                if isinstance(data, dict) and data.get("format") == FORMAT and data.get("key") == registry_key():
                    _loaded = dict(data["entries"])
        except Exception:  # a damaged file is derived afresh, never fatal
            _loaded = {}
    return _loaded


def _trusted(path: Path) -> bool:
    """The file is the current user's and only they may write to it (or the platform has no owners)."""
    st = path.stat()
    if not hasattr(os, "getuid"):
        return True
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _write() -> None:
    """Merge this process's entries into the file (renamed into place: readers never see a partial file)."""
    path = cache_file()
    if path is None or not _pending:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        entries: dict[str, bytes] = {}
        if path.is_file() and _trusted(path):
            try:
                data = pickle.loads(path.read_bytes())
                if data.get("format") == FORMAT and data.get("key") == registry_key():
                    entries.update(data["entries"])
            except Exception:
                entries = {}
        size = sum(len(v) for v in entries.values())
        for k, v in _pending.items():
            if k not in entries and size + len(v) <= MAX_BYTES:
                entries[k] = v
                size += len(v)
        blob = pickle.dumps({"format": FORMAT, "key": registry_key(), "entries": entries}, protocol=4)
        fd, tmp = tempfile.mkstemp(prefix=".forms-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _pending.clear()
    except OSError:
        pass  # a cache that cannot be written only costs the next run the derivation


# -- one Form as bytes and back ----------------------------------------------------------------------------------


def _names(code: types.CodeType) -> set[str]:
    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out |= _names(c)
    return out


def _pack_fn(fn: Callable) -> tuple[bytes, dict[str, tuple[str, str]]] | None:
    """A lambdified function as its marshalled code and where each global it reads comes from; None for any
    other function (a structural form's own evaluator)."""
    if not isinstance(fn, types.FunctionType) or fn.__name__ != "_lambdifygenerated" or fn.__closure__:
        return None
    where: dict[str, tuple[str, str]] = {}
    for name in _names(fn.__code__):
        if name not in fn.__globals__:
            if hasattr(builtins, name):
                continue
            return None
        value = fn.__globals__[name]
        module, attr = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
        if module not in _MODULES or not attr or getattr(sys.modules.get(module), attr, None) is not value:
            if isinstance(value, types.ModuleType) and value.__name__ in _MODULES:
                where[name] = (value.__name__, "")
                continue
            return None
        where[name] = (module, attr)
    return marshal.dumps(fn.__code__), where


def _unpack_fn(code: bytes, where: dict[str, tuple[str, str]]) -> Callable:
    g: dict[str, Any] = {"__builtins__": builtins}
    for name, (module, attr) in where.items():
        if module not in _MODULES:
            raise ValueError(f"{module} is not a module a form may read")
        mod = importlib.import_module(module)
        g[name] = getattr(mod, attr) if attr else mod
    return types.FunctionType(marshal.loads(code), g, "_lambdifygenerated")


def _pack(value: Any) -> Any:
    """Forms (in tuples and lists, as the derivers return them) as picklable parts; None if any is not.

    A form that is one of its placeholders (d net/d w_1 = a_1) keeps no code: its evaluator picks an argument
    and is made again by the deriver's own form builder."""
    if isinstance(value, Form):
        if placeholder_index(value.expr, value.placeholders) >= 0:
            # the count, not the placeholders: a 256-input neuron's 513 derivatives would each unpickle 513
            return ("bare", value.expr, len(value.placeholders))
        fn = _pack_fn(value.fn)
        if fn is None:
            return None
        return ("form", value.expr, value.placeholders, fn)
    if isinstance(value, (tuple, list)):
        parts = [_pack(v) for v in value]
        if any(p is None for p in parts):
            return None
        return ("tuple" if isinstance(value, tuple) else "list", parts)
    return None


def _unpack(parts: Any, bare: Callable[[Any, int], Form]) -> Any:
    if parts[0] == "form":
        _, expr, placeholders, (code, where) = parts
        return Form(expr, _unpack_fn(code, where), tuple(placeholders))
    if parts[0] == "bare":
        return bare(parts[1], parts[2])
    items = [_unpack(p, bare) for p in parts[1]]
    return tuple(items) if parts[0] == "tuple" else items


def _load(key: str, bare: Callable[[Any, int], Form]) -> Any:
    blob = _read().get(key)
    if blob is None:
        return None
    import sympy

    try:
        # evaluation off: each node is rebuilt from its stored arguments as they are, the tree that was stored
        with sympy.evaluate(False):
            return _unpack(pickle.loads(blob), bare)
    except Exception:
        return None


_registered = False


def _store(key: str, value: Any) -> None:
    global _registered
    parts = _pack(value)
    if parts is None or cache_file() is None:
        return
    try:
        _pending[key] = pickle.dumps(parts, protocol=4)
    except Exception:
        return
    if not _registered:
        atexit.register(_write)
        _registered = True


def deriver(bare: Callable[[Any, int], Form]) -> Callable[[Callable], Callable]:
    """A decorator like ``lru_cache`` for the functions that derive forms, backed by the file: a stored form is
    loaded, a new one derived and stored. ``bare(expr, n)`` builds a form that is one of its n placeholders.
    The arguments must have a stable ``repr`` (numbers, strings, tuples of them); keyword arguments are part
    of the key too."""

    def derived(fn: Callable) -> Callable:
        name = f"{fn.__module__}.{fn.__qualname__}"

        @lru_cache(maxsize=None)
        @wraps(fn)
        def wrapper(*args, **kwargs):
            key = f"{name}{args!r}{sorted(kwargs.items())!r}" if kwargs else f"{name}{args!r}"
            hit = _load(key, bare)
            if hit is not None:
                _state["hits"] += 1
                return hit
            _state["misses"] += 1
            value = fn(*args, **kwargs)
            _store(key, value)
            return value

        _wrappers.append(wrapper)
        return wrapper

    return derived


def reset() -> None:
    """Forget what was read, the key and the forms held in this process (for the tests: after the sources or
    the folder changed)."""
    global _loaded
    _loaded = None
    _pending.clear()
    _state.update(hits=0, misses=0)
    registry_key.cache_clear()
    for w in _wrappers:
        w.cache_clear()
