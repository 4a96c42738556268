"""CEL backends behind one small adapter: the Rust-backed ``common-expression-language``
(``import cel``, the default) and the pure-Python ``cel-python`` (``import celpy``) as a fallback.

The policy engine only needs: compile an expression once, make a context from plain Python data,
bind one more name in it, and run a compiled expression against it. Values going in are plain
JSON-like Python data (with floats for quantities); values coming out are converted back to plain
Python data.
"""

from __future__ import annotations

from typing import Any

from carbontrail.errors import PolicyError

__all__ = ["BACKENDS", "CelBackend", "CelPyBackend", "RustCelBackend", "get_backend"]


class CelBackend:
    """Port for a CEL implementation. Subclasses implement the four methods; errors in
    :meth:`compile` raise :class:`PolicyError`; errors in :meth:`run` raise any exception (the engine
    fails closed on them)."""

    name = "base"

    def compile(self, source: str) -> Any:
        raise NotImplementedError

    def context(self, activation: dict[str, Any]) -> Any:
        raise NotImplementedError

    def bind(self, ctx: Any, name: str, value: Any) -> Any:
        """Bind ``name`` in ``ctx``; return the context to use from now on."""
        raise NotImplementedError

    def run(self, program: Any, ctx: Any) -> Any:
        raise NotImplementedError


class RustCelBackend(CelBackend):
    """``common-expression-language`` (Rust ``cel-interpreter`` through PyO3): about a microsecond
    per expression here."""

    name = "cel"

    def __init__(self) -> None:
        import cel

        self._cel = cel

    def compile(self, source: str) -> Any:
        try:
            return self._cel.compile(source)
        except (ValueError, RuntimeError, TypeError) as exc:
            raise PolicyError(str(exc).splitlines()[0] if str(exc) else repr(exc)) from exc

    def context(self, activation: dict[str, Any]) -> Any:
        return self._cel.Context(activation)

    def bind(self, ctx: Any, name: str, value: Any) -> Any:
        ctx.add_variable(name, value)
        return ctx

    @staticmethod
    def run(program: Any, ctx: Any) -> Any:
        return program.execute(ctx)


class CelPyBackend(CelBackend):
    """``cel-python`` (pure Python, slower): used when the Rust package is unavailable."""

    name = "celpy"

    def __init__(self) -> None:
        try:
            import celpy
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise PolicyError("the cel-python backend needs `pip install carbontrail[cel-python]`") from exc
        self._celpy = celpy
        self._env = celpy.Environment()

    def compile(self, source: str) -> Any:
        try:
            return self._env.program(self._env.compile(source))
        except Exception as exc:  # celpy raises CELParseError and friends
            raise PolicyError(str(exc).splitlines()[0] if str(exc) else repr(exc)) from exc

    def context(self, activation: dict[str, Any]) -> Any:
        return {k: self._celpy.json_to_cel(v) for k, v in activation.items()}

    def bind(self, ctx: Any, name: str, value: Any) -> Any:
        ctx[name] = self._celpy.json_to_cel(value)
        return ctx

    def run(self, program: Any, ctx: Any) -> Any:
        from celpy.evaluation import CELEvalError

        result = program.evaluate(ctx)
        if isinstance(result, CELEvalError):
            raise RuntimeError(str(result.args[0]) if result.args else "CEL evaluation error")
        return _from_celpy(result)


def _from_celpy(v: Any) -> Any:
    from celpy import celtypes

    if isinstance(v, celtypes.BoolType):
        return bool(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, dict):
        return {_from_celpy(k): _from_celpy(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_from_celpy(x) for x in v]
    return v


BACKENDS = {"cel": RustCelBackend, "celpy": CelPyBackend}


def get_backend(name: str = "auto") -> CelBackend:
    """``"cel"``, ``"celpy"`` or ``"auto"`` (the Rust backend when importable, else cel-python)."""
    if name == "auto":
        try:
            return RustCelBackend()
        except ImportError:
            return CelPyBackend()
    if name not in BACKENDS:
        raise PolicyError(f"unknown CEL backend {name!r}; choose one of {sorted(BACKENDS)} or 'auto'")
    try:
        return BACKENDS[name]()
    except ImportError as exc:
        raise PolicyError(f"CEL backend {name!r} is not installed") from exc
