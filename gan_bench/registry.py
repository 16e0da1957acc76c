"""Name -> object tables, the one place each family of pluggable pieces is looked up.

Losses, penalties, architectures, datasets and metrics are chosen in gin by *name*
(a string), so that sweeps can grid over them and reports can group by them. Each
family owns one `Registry`; adding a new member is one decorated function.
"""
import difflib
from typing import Callable, Dict, Generic, Iterable, Sequence, Tuple, TypeVar

T = TypeVar("T")


def plural(noun: str) -> str:
    """'loss' -> 'losses', 'penalty' -> 'penalties', 'metric' -> 'metrics'."""
    if noun.endswith(("s", "x", "sh", "ch")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def did_you_mean(name, known: Iterable[str]) -> str:
    """'; did you mean 'x'?' for the closest known name (difflib), or '' when none is close."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class Registry(Generic[T]):
    """A named table of `kind` objects with a helpful error for unknown names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, T] = {}
        self._configurables: Dict[str, Tuple[str, ...]] = {}

    def register(self, name: str, gin_configurables: Sequence[str] = ()) -> Callable[[T], T]:
        """Decorator registering an object under `name`. `gin_configurables`: the gin configurables whose keys
        are read when (and only when) this entry is chosen, so that keys bound for an entry a trial does not
        choose can be reported (`gan_bench.config.unread_bindings`)."""
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            self._configurables[name] = tuple(gin_configurables)
            return obj

        return decorator

    def gin_configurables(self, name: str) -> Tuple[str, ...]:
        """The gin configurables entry `name` reads (given at registration; () when none)."""
        self.get(name)  # ValueError for an unknown name
        return self._configurables[name]

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.kind} {name!r}; known {plural(self.kind)}: {', '.join(sorted(self._items))}"
                f"{did_you_mean(name, self._items)}"
            ) from None

    def names(self) -> Iterable[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items
