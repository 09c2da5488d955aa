"""The package's shape: imports run one way, and the model imports no pytest."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mu3e_checks"


def import_graph() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports (local imports too)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.startswith("mu3e_checks"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    deps.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("mu3e_checks")}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def test_no_import_cycles_inside_the_package():
    graph = import_graph()
    assert len(graph) > 30
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


def test_renderers_and_the_model_never_import_the_hooks_or_pytest_plumbing():
    graph = import_graph()
    pure = [m for m in graph if m.startswith(("mu3e_checks.render", "mu3e_checks.model",
                                              "mu3e_checks.redact", "mu3e_checks.remedy",
                                              "mu3e_checks.knowledge", "mu3e_checks.advice",
                                              "mu3e_checks.facts"))]
    for module in pure:
        assert not graph[module] & {"mu3e_checks.run", "mu3e_checks.plugin",
                                    "mu3e_checks.outcome"}, module
        source = (PACKAGE.parent / (module.replace(".", "/") + ".py"))
        if not source.exists():
            source = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
        tree = ast.parse(source.read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                    for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                     if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
        assert "pytest" not in imported and "_pytest" not in imported, module


# --------------------------------------------------------------------------- the layers
#
# docs/architecture.md, "The layers": which part of the package may import which.  A module's
# layer is found by its name; each layer lists the layers it may import.  Changing a rule here
# means changing that section of the document in the same commit.

SIDE = {"text", "shell", "remedy", "commands", "registry", "settings", "profile"}
MODEL = {"facts", "model", "redact"}
RUN = {"run", "plugin", "environment", "hooks", "foreign", "prune", "listing"}
SUBCOMMANDS = {"cli", "explain", "repair"}

ALLOWED = {
    "side": {"side"},
    "knowledge": {"text", "knowledge"},
    "advice": {"side", "knowledge", "advice"},
    "checks": {"side", "knowledge", "advice", "model", "outcome", "checks", "run"},
    "outcome": {"side", "model"},
    "model": {"side", "model"},
    "render": {"text", "model", "render"},
    "outputs": set(),
    "run": {"side", "knowledge", "model", "outcome", "render", "outputs", "run"},
    "subcommands": {"side", "knowledge", "model", "outcome", "render", "outputs", "run",
                    "subcommands"},
}

#: Imports the document states as exceptions, with its reason.
STATED = {
    ("settings", "knowledge.files"): "the pass-phrase file is read through the one bounded read",
    ("registry", "checks"): "load_all imports every check module for --list and the docs",
}


def test_the_document_states_the_layers_this_test_checks():
    """docs/architecture.md's table of layers is ALLOWED, row for row."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    table = doc[doc.index("| layer | modules | may import |"):]
    table = table[:table.index("\n\n")]
    stated = {}
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        imports = cells[2].replace("`", "")
        stated[cells[0]] = set() if imports == "nothing" else {x.strip()
                                                               for x in imports.split(",")}
    assert stated == ALLOWED
    for (module, target), reason in STATED.items():
        assert f"`{module}" in doc and reason.split()[1] in doc, (module, target)


def layer_of(module: str) -> str:
    name = module.removeprefix("mu3e_checks").lstrip(".")
    if name == "text":
        return "text"
    for group, members in (("side", SIDE), ("model", MODEL), ("run", RUN),
                           ("subcommands", SUBCOMMANDS)):
        if name in members:
            return group
    if name in ("", "outputs", "outcome"):
        return name or "package"
    head = name.split(".")[0]
    return "subcommands" if head in SUBCOMMANDS else head  # repair/*, knowledge, checks, render


def test_each_layer_imports_only_what_the_architecture_document_allows():
    graph = import_graph()
    wrong = []
    for module, deps in graph.items():
        mine = layer_of(module)
        allowed = ALLOWED.get(mine, set()) | {mine, "package"}
        if mine == "side" or "side" in allowed:
            allowed = allowed | {"text"}
        for dep in deps:
            short = (module.removeprefix("mu3e_checks."), dep.removeprefix("mu3e_checks."))
            if layer_of(dep) not in allowed and short not in STATED:
                wrong.append(f"{module} imports {dep} ({mine} -> {layer_of(dep)})")
    assert not wrong, "\n".join(wrong)


def test_renderers_read_only_the_model():
    """A renderer imports only the model, the other renderers and text's sanitiser (the layer
    test above), and every public function takes model data or plain values: no settings, no
    run, no pytest object (a terminal writer is taken as ``Any``: only its write methods)."""
    import inspect
    import re

    from mu3e_checks import render
    from mu3e_checks.render import environment, html, json, junit, terminal

    plain = {"str", "bytes", "bool", "int", "float", "dict", "list", "tuple", "Any", "None",
             "Optional", "Callable", "Mapping", "Sequence", "datetime", "_dt"}
    model = {"Diagnosis", "CheckResult", "Facts", "Written", "ProxyChain", "Located",
             "Explained"}
    for module in (render, environment, html, json, junit, terminal):
        for name, func in inspect.getmembers(module, inspect.isfunction):
            if func.__module__ != module.__name__ or name.startswith("_"):
                continue
            for p in inspect.signature(func).parameters.values():
                names = set(re.findall(r"[A-Za-z_]\w*", str(p.annotation)))
                assert names <= plain | model, (module.__name__, name, p.name, p.annotation)


# --------------------------------------------------------------------------- defaults


def _strings(path: Path) -> list[str]:
    return [n.value for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


#: Modules that hold a value an option's default equals because it is a fact of DIRAC's own
#: behaviour, which the knowledge layer needs without the settings: DIRAC's hard-wired system
#: CA directory (--mu3e-system-cert-dir only lets a test point elsewhere).
DEFAULT_IS_A_FACT = {"knowledge/trust/choice.py": "/etc/grid-security/certificates"}


def test_every_default_has_one_home_the_options_table():
    """No module but settings.py holds an option's default value, or repeats it in prose next
    to the option ("--mu3e-cert-warn-days (30)", "(mu3e.org_user)"): the docs and --help take
    it from the options table."""
    import re

    from mu3e_checks.settings import OPTIONS

    found = []
    files = [p for p in PACKAGE.rglob("*.py") if p.name != "settings.py"]
    for opt in OPTIONS:
        d = opt.default
        if d in (None, (), "") or isinstance(d, bool) or opt.choices:
            continue  # a choice's values are names the code must use (--mu3e-profile user)
        values = {f"{d:g}", str(d)} if isinstance(d, (int, float)) else {str(d)}
        values |= {str(v) for v in d} if isinstance(d, tuple) else set()
        values = {v for v in values if len(v) > 1}
        prose = [re.compile(re.escape(opt.flag) + r"[`'\s]*[(,]\s*(?:default:?\s*)?"
                            + re.escape(v) + r"(?![\w.])") for v in values]
        for path in files:
            for text in _strings(path):
                rel = path.relative_to(PACKAGE.parent)
                if DEFAULT_IS_A_FACT.get(path.relative_to(PACKAGE).as_posix()) == text:
                    continue
                if isinstance(d, str) and (text == d or f"({d})" in text):
                    found.append(f"{rel}: {d!r} in {text[:80]!r}")
                elif any(p.search(text) for p in prose):
                    found.append(f"{rel}: {opt.flag}'s default in {text[:80]!r}")
    assert not found, "\n".join(found)


# --------------------------------------------------------------------------- judgement and fixes


def test_knowledge_is_free_of_advice():
    """Knowledge returns facts and typed problem kinds: it imports no fix (``remedy``), no
    command (``commands``), no setting (``settings``) and no advice; the advice layer words
    the kinds and makes the fixes."""
    graph = import_graph()
    judging = {"mu3e_checks.remedy", "mu3e_checks.commands", "mu3e_checks.settings"}
    wrong = [f"{module} imports {dep}" for module, deps in graph.items()
             if module.startswith("mu3e_checks.knowledge") for dep in deps
             if dep in judging or dep.startswith("mu3e_checks.advice")]
    assert not wrong, "\n".join(wrong)


def _command_heads() -> set[str]:
    """The start of every command line commands.py writes, as its builders' templates and the
    checks' fixes (whose bound values name the variable, the mode...) show it: the text before
    the first ``{field}``, when that is two words or more (``openssl pkcs12``, ``fetch-crl
    -l``, ``export X509_CERT_DIR=``); a lone word before a field (``rm {path}``) is too
    common in prose to stand for a command."""
    from mu3e_checks import commands, registry
    from mu3e_checks.remedy import Builder

    templates = [b.template for b in vars(commands).values() if isinstance(b, Builder)]
    templates += [c.fix for c in registry.load_all().values()]
    heads = set()
    for remedy in templates:
        for ln in remedy.lines:
            if ln.is_comment:
                continue
            words = ln.template.split("{", 1)[0].split()
            if len(words) >= 2:
                heads.add(" ".join(words[:2]))
    return heads


def _literals(tree: ast.AST) -> list[str]:
    """The string literals of a module as they start: docstrings left out (they describe
    commands), and of an f-string only its first part (the rest does not start the text)."""
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)}
    inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values[1:]}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in docs and id(n) not in inner]


def test_every_command_has_one_home_commands_py():
    """No module but commands.py writes a command line: nothing calls ``cmd()`` outside it,
    and no literal elsewhere starts with the text of one of its commands (``openssl pkcs12``,
    ``fetch-crl -l``, ``dirac-proxy-init -g``, ``export X509_CERT_DIR=``...).  A fix anywhere
    else is a builder of commands.py, so the command a check documents and the one it prints
    cannot drift apart."""
    heads = _command_heads()
    assert {"openssl pkcs12", "fetch-crl -l", "dirac-proxy-init -g", "dirac-configure -F",
            "chmod 600", "export X509_CERT_DIR="} <= heads
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "commands.py" and path.parent == PACKAGE:
            continue
        tree = ast.parse(path.read_text())
        rel = path.relative_to(PACKAGE.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (
                    (isinstance(node.func, ast.Name) and node.func.id == "cmd")
                    or (isinstance(node.func, ast.Attribute) and node.func.attr == "cmd"
                        and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "remedy")):
                found.append(f"{rel}:{node.lineno}: cmd(...) outside commands.py")
        for text in _literals(tree):
            start = text.lstrip()
            for head in heads:
                if start.startswith(head):
                    found.append(f"{rel}: {text[:70]!r} writes out {head!r} again")
    assert not found, "\n".join(found)


def _check_modules() -> list[Path]:
    return sorted((PACKAGE / "checks").glob("test_*.py")) + [PACKAGE / "checks" / "conftest.py"]


def test_checks_name_fixes_and_never_build_them():
    """A check states a finding and the values of its fix: it names a builder (``@check`` or
    ``fix=commands.<builder>``) or passes the Remedy the advice layer made; it never writes a
    fix line itself (no ``cmd``/``say``/``join`` from remedy) and never calls a builder."""
    found = []
    for path in _check_modules():
        tree = ast.parse(path.read_text())
        rel = path.relative_to(PACKAGE.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "mu3e_checks.remedy":
                names = {a.name for a in node.names} - {"Field", "Remedy"}
                if names:
                    found.append(f"{rel}:{node.lineno} imports {sorted(names)} from remedy")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id == "commands":
                found.append(f"{rel}:{node.lineno} calls commands.{node.func.attr}(...)")
    assert not found, "\n".join(found)


def _module_names(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to an expression (``INIT = commands.proxy_init``, tuples
    too), as source text: how a builder a check names is compared with what it declares."""
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if isinstance(target, ast.Name):
                out[target.id] = ast.unparse(value)
            elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) \
                    and len(target.elts) == len(value.elts):
                for t, v in zip(target.elts, value.elts):
                    if isinstance(t, ast.Name):
                        out[t.id] = ast.unparse(v)
    return out


def _named_fixes(func: ast.FunctionDef, names: dict[str, str],
                 helpers: dict[str, ast.FunctionDef], seen: set[str]) -> set[str]:
    """The builders ``fail``/``warn`` name in ``func`` and the module's helpers it calls."""
    out = set()
    for node in ast.walk(func):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        if node.func.id in ("fail", "warn"):
            for kw in node.keywords:
                fix = names.get(ast.unparse(kw.value), ast.unparse(kw.value))
                if kw.arg == "fix" and fix.startswith("commands."):
                    out.add(fix)
        elif node.func.id in helpers and node.func.id not in seen:
            out |= _named_fixes(helpers[node.func.id], names, helpers, seen | {node.func.id})
    return out


def test_a_check_names_only_fixes_its_check_declares():
    """Every builder a check's ``fail``/``warn`` names (``fix=commands.x`` or a module constant
    bound to one), in its body or in a helper of its module it calls, is the check's own
    (``@check(fix=...)``) or one of its ``also=``: the registry knows every builder a check can
    print (the run refuses an undeclared one too, but only on the paths a test takes)."""
    wrong = []
    for path in _check_modules()[:-1]:
        tree = ast.parse(path.read_text())
        names = _module_names(tree)
        helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        for func in helpers.values():
            for deco in func.decorator_list:
                if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Name)
                        and deco.func.id == "check"):
                    continue
                declared = set()
                for kw in deco.keywords:
                    values = kw.value.elts if kw.arg == "also" and isinstance(
                        kw.value, ast.Tuple) else [kw.value] if kw.arg == "fix" else []
                    declared |= {names.get(ast.unparse(v), ast.unparse(v)) for v in values}
                for fix in _named_fixes(func, names, helpers, {func.name}) - declared:
                    wrong.append(f"{path.name}: {func.name} names {fix}, not declared")
    assert not wrong, "\n".join(wrong)


def test_the_registry_refuses_a_fix_written_as_a_string():
    """``@check(fix=...)`` takes a builder of commands.py: a string is refused when the module
    is imported, since it would be a second copy of a command, free to drift from the one the
    check prints."""
    import pytest

    from mu3e_checks import commands, registry

    with pytest.raises(registry.RegistryError, match="builders from mu3e_checks.commands"):
        registry.check("CERT-098", "t", step="certificate", fix="chmod 600 {key}")
    with pytest.raises(registry.RegistryError, match="builders"):
        registry.check("CERT-098", "t", step="certificate", fix=commands.proxy_init,
                       also=("dirac-proxy-init",))
    for c in registry.load_all().values():
        for b in c.builders:
            assert b.make.__module__ == "mu3e_checks.commands", (c.id, b)
        assert c.fix == (c.builder.template if c.builder else c.fix), c.id
