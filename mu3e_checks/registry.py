"""The check registry: stable IDs, titles, guide steps, fix templates, prerequisites.

Everything a report, a list command or a support engineer needs to know about a check lives
here, on the :class:`Check` record, so that the terminal, the HTML, JUnit and the README all say
the same thing.  Check modules register themselves with :func:`check`; the registry itself knows
nothing about pytest.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional, TypeVar

from mu3e_checks.remedy import Builder, Remedy

F = TypeVar("F", bound=Callable[..., object])
T = TypeVar("T")

#: The guide's chapters, in the order a physicist follows them.  Check modules map onto these;
#: the terminal summary groups by them.  Keys are stable; titles are the guide's own headings.
GUIDE_STEPS: tuple[tuple[str, str], ...] = (
    ("certificate", "Install User Certificates"),
    ("diracos", "Install DIRAC Client Environment (DIRACOS)"),
    ("dirac", "Install the DIRAC Python client (8.0.74, not v9)"),
    ("cas", "Install Certificate Authorities (CAs)"),
    ("crls", "Fetch Certificate Revocation Lists (CRLs)"),
    ("local-proxy", "Initialize a Local Proxy (No Configuration Service)"),
    ("configure", "Configure DIRAC for Mu3e"),
    ("cert-dir", "Set the certificate directory explicitly"),
    ("cs", "Reach the Configuration Server"),
    ("mu3e-proxy", "Initialize a Mu3e DIRAC Proxy and verify it"),
)
STEP_TITLES: dict[str, str] = dict(GUIDE_STEPS)
STEP_ORDER: dict[str, int] = {key: i for i, (key, _) in enumerate(GUIDE_STEPS)}

SEVERITIES = ("fail", "warn")
_ID_RE = re.compile(r"^[A-Z]+-\d{3}$")


@dataclass(frozen=True)
class Check:
    """One diagnosis step.

    ``builders`` are the fixes the check may print, each a :class:`~mu3e_checks.remedy.Builder`
    from :mod:`mu3e_checks.commands`: the first is its own (what ``fail(message, **values)``
    prints, filled with those values), the others are those a different finding names
    (``fail(message, fix=<builder>, **values)``).  ``fix`` is the first one's template, with
    ``{fields}`` unfilled: what docs/checks.md and ``--list`` show.  ``doc`` is the check's
    docstring: why the check exists and what its verdicts mean, rendered into docs/checks.md.
    ``severity`` is what a problem found by this check means: ``fail`` (exit code 1) or ``warn``
    (reported, exit code 0 unless strict).
    """

    id: str
    title: str
    step: str
    fix: Remedy
    severity: str = "fail"
    requires: tuple[str, ...] = ()
    network: bool = False
    function: str = field(default="", compare=False)
    doc: str = field(default="", compare=False)
    builders: tuple[Builder, ...] = field(default=(), compare=False)

    @property
    def step_title(self) -> str:
        return STEP_TITLES[self.step]

    @property
    def builder(self) -> Optional[Builder]:
        """The check's own fix: what ``fail(message, **values)`` prints."""
        return self.builders[0] if self.builders else None


REGISTRY: dict[str, Check] = {}
#: Check IDs that fixtures name as the owners of their facts; validated with the registry.
OWNER_REFS: set[str] = set()


def owner(check_id: str) -> str:
    """Declare (at import time) that a fixture's fact is owned by ``check_id``: a skip for a
    missing fact names that check, and :func:`validate` refuses an ID that does not exist."""
    if not _ID_RE.match(check_id):
        raise RegistryError(f"owner {check_id!r} is not a check ID")
    OWNER_REFS.add(check_id)
    return check_id


class RegistryError(Exception):
    """A programming error in a check declaration, caught at import time."""


def check(
    id: str,
    title: str,
    *,
    step: str,
    fix: Optional[Builder] = None,
    also: Iterable[Builder] = (),
    severity: str = "fail",
    requires: Iterable[str] = (),
    network: bool = False,
) -> Callable[[F], F]:
    """Declare a check.  Decorates the pytest test function that implements it.

    ``fix`` is the builder (from :mod:`mu3e_checks.commands`) of the check's own fix, the one
    docs/checks.md shows; ``also`` the builders a different finding of the check names.  A
    string is refused: the documented fix would be a second copy of a command that can drift
    from the one the check prints.
    """
    if not _ID_RE.match(id):
        raise RegistryError(f"check ID {id!r} must look like ABC-001")
    if step not in STEP_TITLES:
        raise RegistryError(f"{id}: unknown guide step {step!r}")
    if severity not in SEVERITIES:
        raise RegistryError(f"{id}: severity must be one of {SEVERITIES}")
    also = tuple(also)
    for given in ((fix,) if fix is not None else ()) + also:
        if not isinstance(given, Builder):
            raise RegistryError(f"{id}: fix= and also= take builders from mu3e_checks.commands "
                                f"(e.g. commands.fetch_crl), never {type(given).__name__} "
                                f"{given!r:.60}")
    if also and fix is None:
        raise RegistryError(f"{id}: also= names further fixes; give the check's own as fix=")
    builders = ((fix,) if fix is not None else ()) + also

    def decorate(func: F) -> F:
        entry = Check(
            id=id,
            title=title,
            step=step,
            fix=fix.template if fix is not None else Remedy(),
            severity=severity,
            requires=tuple(requires),
            network=network,
            function=f"{func.__module__}.{func.__name__}",
            doc=inspect.cleandoc(func.__doc__ or ""),
            builders=builders,
        )
        old = REGISTRY.get(id)
        if old is not None and old.function != entry.function:
            raise RegistryError(f"check ID {id} is used twice: {old.function} and {entry.function}")
        REGISTRY[id] = entry
        func._mu3e_check = entry  # type: ignore[attr-defined]
        return func

    return decorate


def check_of(func: object) -> Check | None:
    """The registry entry behind a test function, or None for ordinary tests."""
    return getattr(func, "_mu3e_check", None)


def load_all() -> dict[str, Check]:
    """Import every check module so the registry is complete (for listing and docs)."""
    import importlib
    import pkgutil

    from mu3e_checks import checks

    for info in sorted(pkgutil.iter_modules(checks.__path__), key=lambda m: m.name):
        if info.name.startswith("test_"):
            importlib.import_module(f"{checks.__name__}.{info.name}")
    validate(REGISTRY, OWNER_REFS)
    return dict(REGISTRY)


def validate(checks: Mapping[str, Check], owners: Iterable[str] = ()) -> None:
    """Every ``requires`` and fixture owner names a known check, and prerequisites form no
    cycle: a broken declaration fails at load time, not as a confusing skip in a user's run."""
    import graphlib

    for entry in checks.values():
        for req in entry.requires:
            if req not in checks:
                raise RegistryError(f"{entry.id} requires unknown check {req}")
    for owner in owners:
        if owner not in checks:
            raise RegistryError(f"a fixture names unknown check {owner} as the owner of its fact")
    try:
        graphlib.TopologicalSorter({c.id: c.requires for c in checks.values()}).prepare()
    except graphlib.CycleError as exc:
        raise RegistryError(f"prerequisites form a cycle: {' -> '.join(exc.args[1])}") from None


def closure(ids: Iterable[str], neighbours: Callable[[str], Iterable[str]],
            known: Mapping[str, object]) -> list[str]:
    """``ids`` and everything reachable from them through ``neighbours``, in the order first
    reached: the registry's one walk over the ``requires`` graph (either direction).  IDs the
    registry does not know are left out; a cycle cannot loop (``validate`` refuses one anyway).
    """
    out: dict[str, None] = {}
    todo = list(ids)
    while todo:
        cid = todo.pop()
        if cid in out or cid not in known:
            continue
        out[cid] = None
        todo.extend(neighbours(cid))
    return list(out)


def prerequisites(ids: Iterable[str], checks: Mapping[str, object]) -> list[str]:
    """``ids`` and every check they require, transitively."""
    return closure(ids, lambda cid: getattr(checks[cid], "requires", ()), checks)


def dependants(ids: Iterable[str], checks: Mapping[str, object]) -> list[str]:
    """``ids`` and every check that requires one of them, transitively (the checks whose
    verdict can change when theirs does)."""
    reverse: dict[str, list[str]] = {}
    for cid, entry in checks.items():
        for req in getattr(entry, "requires", ()):
            reverse.setdefault(req, []).append(cid)
    return closure(ids, lambda cid: reverse.get(cid, ()), checks)


def with_prerequisites(ids: Iterable[str], checks: Mapping[str, object]) -> list[str]:
    """``ids`` and everything they require, transitively (the selection a run needs): what
    ``explain`` runs to decide a cause, and what ``fix`` runs again after a repair."""
    return sorted(prerequisites(ids, checks))


def ordered(checks: Iterable[Check]) -> list[Check]:
    """Guide order: by chapter, then by ID within a chapter."""
    return sorted(checks, key=lambda c: (STEP_ORDER[c.step], c.id))


def graph_ordered(nodes: Sequence[T], requires: Callable[[T], Iterable[int]]) -> list[T]:
    """``nodes`` reordered so that each comes after those it requires (``requires`` gives the
    positions in ``nodes`` of a node's prerequisites), their given order kept wherever the
    graph allows: at each step the earliest node whose prerequisites are all placed goes next.
    The run orders its checks so, and ``explain`` ranks causes so; a cycle (the registry
    refuses them when it loads) keeps the rest as it is."""
    deps = [set(requires(node)) for node in nodes]
    placed: set[int] = set()
    out: list[T] = []
    remaining = list(range(len(nodes)))
    while remaining:
        for n, i in enumerate(remaining):  # noqa: B007 (n is used after the loop)
            if deps[i] <= placed:
                break
        else:
            out.extend(nodes[i] for i in remaining)
            break
        remaining.pop(n)
        out.append(nodes[i])
        placed.add(i)
    return out
