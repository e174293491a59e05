"""Resolve streams.yaml ``module:name`` to payloads and handlers; collect problems, don't raise."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from chimera_workers.errors import ConfigError
from chimera_workers.topology_yaml import Loc, Source, close_to


@dataclass(frozen=True)
class RefResolver:
    """Import ``module:name`` references, recording each problem in ``src``.

    With ``import_code=False`` nothing is imported: payloads become empty stand-in Structs,
    decoders accept any JSON, handlers become stand-ins that raise ``ConfigError`` when called,
    and fields are not checked.
    """

    src: Source
    import_code: bool

    def payload(self, ref: str, loc: Loc) -> type[msgspec.Struct] | None:
        """Return the frozen msgspec Struct ``ref`` names, or None after recording a problem."""
        ok, obj = self._import(ref, loc, "handlers.orders.events:OrderPlaced")
        name = ref.rpartition(":")[2]
        if not ok:
            return None
        if not self.import_code:
            stand_in: type[msgspec.Struct] = msgspec.defstruct(
                name, [], module=ref.partition(":")[0], frozen=True
            )
            return stand_in
        if not (isinstance(obj, type) and issubclass(obj, msgspec.Struct)):
            self.src.add(
                loc,
                f"`{ref}` is not a msgspec.Struct class",
                f"declare it as `class {name}(msgspec.Struct, frozen=True)`",
            )
            return None
        if not obj.__struct_config__.frozen:
            self.src.add(
                loc,
                f"`{ref}` is not frozen",
                "add `frozen=True` to the class so handlers cannot change shared events",
            )
            return None
        return obj

    def handler(self, ref: str, loc: Loc, params: tuple[str, ...]) -> Any:
        """Return the async function ``ref`` names if it accepts ``params``, else None."""
        ok, fn = self._import(ref, loc, "handlers.orders.handlers:on_order")
        if not ok:
            return None
        if not self.import_code:
            return _stand_in(ref)
        signature = f"async def {ref.rpartition(':')[2]}({', '.join(params)}) -> None"
        if not inspect.iscoroutinefunction(fn):
            self.src.add(loc, f"`{ref}` is not an async function", f"define it as `{signature}`")
            return None
        try:
            inspect.signature(fn).bind(*params)
        except TypeError:
            self.src.add(
                loc,
                f"`{ref}` cannot be called with ({', '.join(params)})",
                f"define it as `{signature}`",
            )
            return None
        except ValueError:  # no introspectable signature (some C callables): trust it
            pass
        return fn

    def factory(self, ref: str, loc: Loc) -> Any:
        """Return the plain callable ``ref`` names if it accepts one argument, else None."""
        ok, fn = self._import(ref, loc, "handlers.orders.venue:open_exchanges")
        if not ok:
            return None
        if not self.import_code:
            return _stand_in(ref)
        name = ref.rpartition(":")[2]
        shape = f"def {name}(environ) -> AsyncContextManager (e.g. @asynccontextmanager)"
        if not callable(fn) or inspect.iscoroutinefunction(fn):
            self.src.add(loc, f"`{ref}` is not a context manager factory", f"define {shape}")
            return None
        try:
            inspect.signature(fn).bind("environ")
        except TypeError:
            self.src.add(loc, f"`{ref}` cannot be called with (environ)", f"define {shape}")
            return None
        except ValueError:  # no introspectable signature (some C callables): trust it
            pass
        return fn

    def decoder(
        self, payload: type[msgspec.Struct], ref: str, loc: Loc
    ) -> msgspec.json.Decoder[Any]:
        """Return a JSON decoder for ``payload``, or one accepting any JSON after a problem."""
        if not self.import_code:
            return msgspec.json.Decoder()
        try:
            return msgspec.json.Decoder(payload)
        except TypeError as exc:  # a field type msgspec cannot decode
            self.src.add(
                loc,
                f"msgspec cannot decode `{ref}`: {exc}",
                "use field types msgspec supports",
            )
            return msgspec.json.Decoder()

    def field(self, payload: type[msgspec.Struct], ref: str, name: str, loc: Loc) -> None:
        """Record a problem if ``payload`` (declared as ``ref``) has no field ``name``."""
        if not self.import_code:  # a stand-in payload has no fields to check against
            return
        fields = [f.name for f in msgspec.structs.fields(payload)]
        if name not in fields:
            self.src.add(
                loc,
                f"`{ref}` has no field `{name}`",
                close_to(name, fields) or f"its fields: {', '.join(fields) or 'none'}",
            )

    def _import(self, ref: str, loc: Loc, example: str) -> tuple[bool, Any]:
        module_name, _, attr = ref.partition(":")
        if not module_name or not attr:
            self.src.add(loc, f"`{ref}` is not `module:name`", f"e.g. `{example}`")
            return False, None
        if not self.import_code:
            return True, None
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name is not None and f"{module_name}.".startswith(f"{exc.name}.")
            self.src.add(
                loc,
                f"no module named `{exc.name}`"
                if missing
                else f"importing `{module_name}` failed: {exc}",
                "check the dotted path; it must be importable (installed or on PYTHONPATH)"
                if missing
                else "install the missing dependency",
            )
            return False, None
        except (Exception, SystemExit) as exc:  # the module's own code is at fault
            self.src.add(
                loc,
                f"importing `{module_name}` failed: {type(exc).__name__}: {exc}",
                "fix the error in that module",
            )
            return False, None
        for part in attr.split("."):
            if not hasattr(obj, part):
                public = [n for n in dir(obj) if not n.startswith("_")]
                self.src.add(
                    loc,
                    f"`{module_name}` has no attribute `{attr}`",
                    close_to(part, public) or "check the name after the colon",
                )
                return False, None
            obj = getattr(obj, part)
        return True, obj


def _stand_in(ref: str) -> Callable[..., Any]:
    async def not_imported(*args: Any) -> None:
        raise ConfigError(f"{ref} was not imported", hint="load the topology with import_code=True")

    return not_imported
