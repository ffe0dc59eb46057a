"""The library speaks Python, the command line speaks flags (landscape/cli/flags.py).

Every argument the library names in a message (`arg("x")`, `arg("precision", "fp32")`)
must render, through the CLI's FLAGS table, to a flag or argument that some command really
has: a misspelt or forgotten name fails here, not in front of a user. And one mistake reads
`x: ...` from a library call and `--x: ...` from the command line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from landscape.cli import app
from landscape.cli.flags import FLAGS, NO_FLAG, flagged
from landscape.errors import LandscapeError, arg, for_cli

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "landscape"
MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
runner = CliRunner()
ANY = object()  # a value the source computes (not a literal)


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


class Names:
    """The strings an expression of the library's source can be, found without running it: a
    literal; a name bound by an assignment or a loop over literals (a tuple, a dict's keys, a
    comprehension, a string's characters); a function's parameter, by the literals its callers
    pass. None where it cannot tell."""

    def __init__(self, trees: dict[Path, ast.Module]) -> None:
        self.parents = {n: p for tree in trees.values() for n, p in _parents(tree).items()}
        self.qualified: dict[ast.FunctionDef, str] = {}  # a module's function -> "landscape.x.y.f"
        self.calls: dict[str, list[ast.Call]] = {}  # "landscape.x.y.f" -> the calls to it
        for path, tree in trees.items():
            parts = path.relative_to(ROOT).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            imported = {a.asname or a.name: f"{node.module}.{a.name}" for node in ast.walk(tree)
                        if isinstance(node, ast.ImportFrom) and node.module and not node.level for a in node.names}
            defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            for node in tree.body:
                if isinstance(node, ast.FunctionDef):
                    self.qualified[node] = f"{module}.{node.name}"
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                target = None
                if isinstance(node.func, ast.Name):
                    target = f"{module}.{node.func.id}" if node.func.id in defined else imported.get(node.func.id)
                elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                    if node.func.value.id in imported:  # `syntax.parse_axis(...)`, `from landscape.cli import syntax`
                        target = f"{imported[node.func.value.id]}.{node.func.attr}"
                if target:
                    self.calls.setdefault(target, []).append(node)

    def of(self, expr: ast.AST, depth: int = 0) -> set[str] | None:
        if depth > 6:
            return None
        if isinstance(expr, ast.Constant):
            return {expr.value} if isinstance(expr.value, str) else None
        if isinstance(expr, ast.IfExp):
            return self._union(self.of(expr.body, depth + 1), self.of(expr.orelse, depth + 1))
        if isinstance(expr, ast.Subscript):  # "xy"[axis], limits[0]: an element of what is indexed
            return self.elements(expr.value, depth + 1)
        if isinstance(expr, ast.Name):
            return self._bound(expr, depth)
        return None

    def elements(self, expr: ast.AST, depth: int) -> set[str] | None:
        """The strings iterating over `expr` gives."""
        if depth > 6:
            return None
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return set(expr.value)
        if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
            return self._union(*(self.of(e, depth + 1) for e in expr.elts))
        if isinstance(expr, ast.Dict):
            return self._union(*(self.of(k, depth + 1) for k in expr.keys if k is not None))
        if isinstance(expr, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return self.of(expr.key if isinstance(expr, ast.DictComp) else expr.elt, depth + 1)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in ("items", "keys"):
            return self.elements(expr.func.value, depth + 1)
        if isinstance(expr, ast.Name):
            return self._bound(expr, depth, iterate=True)
        return None

    def _bound(self, name: ast.Name, depth: int, iterate: bool = False) -> set[str] | None:
        """What `name` is where it is used: the nearest binding in the enclosing scopes."""
        node: ast.AST | None = name
        while node is not None:
            node = self.parents.get(node)
            loops = ([g for g in node.generators] if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp,
                                                                        ast.DictComp)) else
                     [node] if isinstance(node, ast.For) else [])
            for loop in loops:
                target = loop.target
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                at = next((i for i, t in enumerate(names) if isinstance(t, ast.Name) and t.id == name.id), None)
                if at is not None:
                    found = self._column(loop.iter, at, depth + 1) if isinstance(target, ast.Tuple) else \
                        self.elements(loop.iter, depth + 1)
                    return self._each(found, iterate)
            if isinstance(node, ast.FunctionDef):
                for statement in ast.walk(node):
                    if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                            and isinstance(statement.targets[0], ast.Name) and statement.targets[0].id == name.id):
                        return (self.elements if iterate else self.of)(statement.value, depth + 1)
                params = [a.arg for a in node.args.args]
                if name.id in params and not iterate and node in self.qualified:
                    index = params.index(name.id)
                    defaults = dict(zip(params[len(params) - len(node.args.defaults):], node.args.defaults))
                    default = self.of(defaults[name.id], depth + 1) if name.id in defaults else set()
                    return self._union(default, self._passed(self.qualified[node], index, name.id, depth))
                return None
        return None

    def _passed(self, function: str, index: int, keyword: str, depth: int) -> set[str] | None:
        """The values the callers of `function` (a module's function, by its qualified name) give
        its parameter `keyword`, at position `index`."""
        values: set[str] = set()
        for call in self.calls.get(function, []):
            given = next((k.value for k in call.keywords if k.arg == keyword), None)
            if given is None and index < len(call.args):
                given = call.args[index]
            if given is None:
                continue  # the default
            found = self.of(given, depth + 1)
            if found is None:
                return None
            values |= found
        return values

    def _column(self, expr: ast.AST, index: int, depth: int) -> set[str] | None:
        """The strings at position `index` of the tuples iterating over `expr` gives
        (`for name, spec in (("x", x), ("y", y))`, `for key, value in d.items()`)."""
        if isinstance(expr, (ast.Tuple, ast.List)):
            rows = [e.elts[index] if isinstance(e, (ast.Tuple, ast.List)) and index < len(e.elts) else None
                    for e in expr.elts]
            return None if None in rows else self._union(*(self.of(r, depth + 1) for r in rows))
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "items":
            return self.elements(expr.func.value, depth + 1) if index == 0 else None
        return None

    @staticmethod
    def _each(found: set[str] | None, iterate: bool) -> set[str] | None:
        return None if found is None else ({c for s in found for c in s} if iterate else found)

    @staticmethod
    def _union(*sets: set[str] | None) -> set[str] | None:
        return None if any(s is None for s in sets) else set().union(*sets)


def library_args() -> dict[tuple[str, object], list[str]]:
    """(name, value) of every `arg(...)` call in the library outside landscape/cli, with where
    it is; `value` is the literal given, None when there is none, ANY when it is computed. A
    name that is computed is followed to the literals it can be (through the callers, the
    command line's included); "<unknown>" where it cannot."""
    trees = {path: ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.rglob("*.py"))}
    names = Names(trees)  # the command line's calls too: they give the library its values
    found: dict[tuple[str, object], list[str]] = {}
    for path, tree in trees.items():
        if (PACKAGE / "cli") in path.parents:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "arg"
                    and node.args):
                continue
            value: object = None
            if len(node.args) > 1:
                value = node.args[1].value if isinstance(node.args[1], ast.Constant) else ANY
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            for name in sorted(names.of(node.args[0]) or {"<unknown>"}):
                found.setdefault((name, value), []).append(where)
    return found


def library_fields() -> set[str]:
    """Every field of a class and every parameter of a function in the library: the names
    `arg(...)` may use for a setting the command line never sets."""
    fields = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                fields |= {s.target.id for s in node.body if isinstance(s, ast.AnnAssign)
                           and isinstance(s.target, ast.Name)}
            elif isinstance(node, ast.FunctionDef):
                fields |= {a.arg for a in node.args.args + node.args.kwonlyargs}
    return fields


def app_names() -> tuple[set[str], dict[str, set[str]], set[str]]:
    """Every option of every command (both forms of a switch), the choices of those that have
    them, and every positional argument by its metavar."""
    options: set[str] = set()
    choices: dict[str, set[str]] = {}
    arguments: set[str] = set()
    for command in typer.main.get_command(app).commands.values():
        for p in command.params:
            if p.param_type_name == "argument":
                arguments.add(p.metavar or p.name.upper())
                continue
            for flag in (*p.opts, *p.secondary_opts):
                options.add(flag)
                kinds = getattr(getattr(p, "type", None) or getattr(p, "type_descriptor", None), "choices", None)
                if kinds:
                    choices.setdefault(flag, set()).update(str(getattr(c, "value", c)) for c in kinds)
    return options, choices, arguments


def unknown(name: str, value: object) -> str | None:
    """What is wrong with how `arg(name, value)` reads on the command line, or None."""
    options, choices, arguments = app_names()
    if name in NO_FLAG:
        return None if name in library_fields() else f"{name!r} is in NO_FLAG but is no setting of the library"
    rendered = flagged(arg(name, "V" if value is ANY else value))
    words = rendered.split()
    head = words[0]
    if head in arguments:
        return None
    if head not in options:
        return f"{rendered!r} is not an option or argument of any command"
    if len(words) > 1 and value is not ANY and head in choices and words[1] not in choices[head]:
        return f"{rendered!r}: {words[1]!r} is not one of the choices of {head}"
    return None


def test_every_name_the_library_uses_is_a_flag_of_some_command():
    found = library_args()
    assert found, "no arg(...) call found: the scan is broken"
    unresolved = [at for (name, _), at in found.items() if name == "<unknown>"]
    assert not unresolved, f"arg() names that cannot be followed to literals (give it a literal): {unresolved}"
    wrong = {f"arg({name!r}{'' if value is None else ', ' + ('...' if value is ANY else repr(value))})": (problem, at)
             for (name, value), at in found.items() if (problem := unknown(name, value))}
    assert not wrong, "names the CLI cannot render as flags (add them to landscape/cli/flags.py FLAGS):\n" + "\n".join(
        f"  {call} at {', '.join(at)}: {problem}" for call, (problem, at) in sorted(wrong.items()))


def test_a_misspelt_name_is_caught():
    assert unknown("x_tagret", None) is not None
    assert unknown("precision", "fp8") is not None
    assert unknown("precision", "fp32") is None and unknown("checkpoint", None) is None


def test_names_without_a_flag_are_settings_of_the_library():
    fields = library_fields()
    assert not NO_FLAG - fields, NO_FLAG - fields
    options, _, arguments = app_names()
    assert not {n for n in NO_FLAG if flagged(arg(n)) in options | arguments}, "in NO_FLAG but it has a flag"


def test_every_entry_of_the_table_is_a_flag_of_some_command():
    options, _, arguments = app_names()
    for name, flag in FLAGS.items():
        for form in (flag if isinstance(flag, tuple) else (flag,)):
            assert form.split()[0] in options | arguments, (name, form)


@pytest.mark.parametrize("name,value,cli", [
    ("x", None, "--x"), ("trust", None, "--trust-checkpoint"), ("ignore_biasbn", True, "--ignore biasbn"),
    ("ignore_biasbn", False, "--ignore none"), ("max_steps", None, "--steps"), ("eval", None, "--eval"),
    ("source", "cifar10", "--data cifar10"), ("factory", None, "--model"), ("kwargs", None, "--model-kwargs"),
    ("select", None, "--params"), ("scale", None, "--direction-scale"), ("overwrite", True, "--overwrite"),
    ("precision", "fp32", "--precision fp32"), ("fold_bn", False, "--no-fold-bn"),
])
def test_names_render_as_flags(name, value, cli):
    assert for_cli(arg(name, value), FLAGS) == cli


def test_a_library_call_names_the_argument_and_the_command_line_the_flag(tmp_path):
    from landscape.plane.grid import Grid
    from landscape.run.job import ComputeJob, interpolation_job

    template = ComputeJob(tmp_path / "a.pt", Grid((0.0,)), tmp_path / "o.h5")
    with pytest.raises(LandscapeError) as e:
        interpolation_job(template, [tmp_path / "a.pt", tmp_path / "b.pt"], y=(0.0, 1.0))
    assert str(e.value).startswith("y needs a third model") and "--y" not in str(e.value)
    assert e.value.field == "y"
    r = runner.invoke(app, ["interpolate", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--y", "0:1:3"])
    assert r.exit_code == 2 and r.output.startswith("error: --y needs a third model"), r.output
    assert len(r.output.strip().splitlines()) == 1


def test_a_bad_axis_reads_x_in_python_and_dash_dash_x_on_the_command_line():
    from landscape.plane.grid import Grid

    with pytest.raises(LandscapeError) as e:
        Grid.linspace((1, -1, 5))
    assert str(e.value).startswith("x: min 1 is larger than max -1"), str(e.value)
    r = runner.invoke(app, ["compute", "x.pt", "--x", "1:-1:5"])
    assert r.exit_code == 2 and r.output.startswith("error: --x: min 1 is larger than max -1"), r.output


def test_a_bad_pattern_reads_params_in_python_and_dash_dash_params_on_the_command_line(tmp_path, checkpoint, model):
    from landscape.inputs.params import ParamSelection

    with pytest.raises(LandscapeError) as e:
        ParamSelection("(").names(model, dict(model.named_parameters()))
    assert str(e.value).startswith("params '(' is not a regular expression"), str(e.value)
    r = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--params", "(", "--x", "-1:1:3", "--samples", "10",
                            "--out", str(tmp_path / "p.h5")])
    assert r.exit_code == 2 and r.output.startswith("error: --params '(' is not a regular expression"), r.output
