"""Inline a recipe: its source and everything it uses from this project, as one
standalone piece of Python that imports only NumPy and the framework.

A reproducer of a composed recipe (the suite's own composition of a framework's
primitives) cannot name one framework call; it runs the recipe itself. ``inline``
walks the names a function uses: a module becomes an import, a function or class
of this project has its source copied (recursively, closures' captured values
included), a plain constant its ``repr``, anything from another package an
import. Whatever cannot be written as source (a project module, an object
without a faithful repr, two different objects under one name) raises
``NotInlinable`` with the name, and the reproducer says why it has no script.
"""
from __future__ import annotations

import ast
import builtins
import functools
import importlib
import inspect
import io
import textwrap
import tokenize
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

PROJECT = ("adapters", "conformance", "reference", "reports")

#: Project helpers replaced by a plain equivalent (a framework's writer adds its own,
#: ScriptWriter.shims): the originals know more than a reproducer needs.
SHIMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "adapters.base.is_probability_target": ('''
def is_probability_target(arrays):
    """A floating target of the input's shape holds class probabilities (torch's rule)."""
    t, x = arrays["target"], arrays["input"]
    return not np.issubdtype(t.dtype, np.integer) and tuple(t.shape) == tuple(x.shape)
''', ("import numpy as np",)),
    "conformance.vocab.dtypes.numpy_dtype": ('''
def numpy_dtype(name):
    """The NumPy dtype of a dtype name (bfloat16 from ml_dtypes, which JAX and TF install)."""
    if name == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)
''', ("import numpy as np",)),
}


class NotInlinable(Exception):
    pass


def _project(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] in PROJECT


def _simple(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return True
    if isinstance(value, (tuple, list, frozenset, set)):
        return all(_simple(v) for v in value)
    if isinstance(value, dict):
        return all(_simple(k) and _simple(v) for k, v in value.items())
    return False


def _lambda_source(fn: types.FunctionType) -> str:
    """The text of a lambda, found by matching bytecode among the lambdas on its line."""
    code = fn.__code__
    try:
        lines, _ = inspect.findsource(code)
    except OSError as exc:
        raise NotInlinable(f"no source for a lambda in {fn.__module__}: {exc}") from None
    text = "".join(lines)
    found = [ast.get_source_segment(text, node) for node in ast.walk(ast.parse(text))
             if isinstance(node, ast.Lambda) and node.lineno == code.co_firstlineno]
    if len(found) == 1:
        return f"({found[0]})"
    for segment in found:      # several on one line: the one with the same bytecode
        compiled = compile(f"({segment})", "<lambda>", "eval")
        inner = next((c for c in compiled.co_consts if isinstance(c, types.CodeType)), None)
        if inner is not None and (inner.co_code, inner.co_names) == (code.co_code, code.co_names):
            return f"({segment})"
    raise NotInlinable(f"could not find the source of a lambda at {code.co_filename}:{code.co_firstlineno}")


def _free_names(tree: ast.AST) -> list[str]:
    """Names read in ``tree`` that it does not bind itself (annotations skipped)."""
    bound: set[str] = set()
    used: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            for d in node.decorator_list:
                visit(d)
            if isinstance(node, ast.ClassDef):
                for b in [*node.bases, *node.keywords]:
                    visit(b)
                for stmt in node.body:
                    visit(stmt)
                return
            visit(node.args)
            for stmt in node.body:
                visit(stmt)
            return
        if isinstance(node, ast.arguments):
            for a in [*node.posonlyargs, *node.args, *node.kwonlyargs, node.vararg, node.kwarg]:
                if a is not None:
                    bound.add(a.arg)
            for d in [*node.defaults, *node.kw_defaults]:
                if d is not None:
                    visit(d)
            return
        if isinstance(node, ast.AnnAssign):
            for part in (node.target, node.value):
                if part is not None:
                    visit(part)
            return
        if isinstance(node, ast.Name):
            (bound.add if isinstance(node.ctx, (ast.Store, ast.Del)) else used.append)(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)
    visit(tree)
    seen: dict[str, None] = {}
    for name in used:
        if name not in bound and not hasattr(builtins, name):
            seen[name] = None
    return list(seen)


@dataclass
class _Inliner:
    shims: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)     # name -> import line
    constants: dict[str, str] = field(default_factory=dict)   # name -> assignment
    defs: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    bound: dict[str, Any] = field(default_factory=dict)
    emitted: dict[int, str] = field(default_factory=dict)     # id(function or class) -> its name here

    def bind(self, name: str, obj: Any) -> None:
        if name in self.bound:
            if self.bound[name] is obj or (_simple(obj) and self.bound[name] == obj):
                return
            raise NotInlinable(f"two different objects are named {name!r} in the recipe's code")
        self.bound[name] = obj
        if isinstance(obj, types.ModuleType):
            self._module(name, obj)
        elif _simple(obj):
            self.constants[name] = f"{name} = {obj!r}"
        elif _project(getattr(obj, "__module__", None)) and (callable(obj) or inspect.isclass(obj)):
            self._code(name, obj)
        elif callable(obj) and getattr(obj, "__module__", None) and getattr(obj, "__qualname__", None):
            self._foreign(name, obj)
        else:
            raise NotInlinable(f"{name!r} is a {type(obj).__name__}, which cannot be written as source")

    def _module(self, name: str, module: types.ModuleType) -> None:
        full = module.__name__
        if _project(full):
            raise NotInlinable(f"the recipe uses the project module {full!r} ({name})")
        if full == name:
            self.imports[name] = f"import {full}"
        elif full.rsplit(".", 1)[-1] == name:
            self.imports[name] = f"from {full.rsplit('.', 1)[0]} import {name}"
        else:
            self.imports[name] = f"import {full} as {name}"

    def _foreign(self, name: str, obj: Any) -> None:
        module, qual = obj.__module__, obj.__qualname__
        try:
            found = functools.reduce(getattr, qual.split("."), importlib.import_module(module))
        except (ImportError, AttributeError):
            found = None
        if found is not obj or "." in qual:
            raise NotInlinable(f"{name!r} ({module}.{qual}) cannot be imported by name")
        self.imports[name] = f"from {module} import {qual}" + ("" if qual == name else f" as {name}")

    def _code(self, name: str, obj: Any) -> None:
        target = inspect.unwrap(obj) if not inspect.isclass(obj) else obj
        own = getattr(target, "__name__", name)
        qual = f"{target.__module__}.{getattr(target, '__qualname__', own)}"
        if id(target) in self.emitted:
            self._alias(name, self.emitted[id(target)], obj)
            return
        self.emitted[id(target)] = name if own == "<lambda>" else own
        if qual in self.shims:
            source, imports = self.shims[qual]
            for line in imports:
                self.imports.setdefault(line.split()[-1], line)
            self.defs.append(source.strip())
            self._alias(name, own, obj)
            return
        if own == "<lambda>":
            self.defs.append(f"{name} = {_lambda_source(target)}")
            self._globals_of(target, ast.parse(_lambda_source(target), mode="eval"))
            return
        try:
            source = textwrap.dedent(inspect.getsource(target))
        except (OSError, TypeError) as exc:
            raise NotInlinable(f"no source for {qual}: {exc}") from None
        tree = ast.parse(source)
        self.defs.append(source.strip())
        self._alias(name, own, obj)
        self._globals_of(target, tree)

    def _alias(self, name: str, own: str, obj: Any) -> None:
        if name == own:
            return
        if self.bound.setdefault(own, obj) is not obj:
            raise NotInlinable(f"two different objects are named {own!r} in the recipe's code")
        self.aliases.append(f"{name} = {own}")

    def _globals_of(self, target: Any, tree: ast.AST) -> None:
        if inspect.isclass(target):
            scope = vars(importlib.import_module(target.__module__))
            closure: dict[str, Any] = {}
        else:
            scope = target.__globals__
            cells = target.__closure__ or ()
            closure = {n: c.cell_contents for n, c in zip(target.__code__.co_freevars, cells)}
        for name in _free_names(tree):
            if name in closure:
                self.bind(name, closure[name])
            elif name in scope:
                self.bind(name, scope[name])
            else:
                raise NotInlinable(f"{name!r} is used by {getattr(target, '__qualname__', target)} "
                                   f"but defined nowhere it can be found")

    def text(self, avoid: Mapping[str, str | None]) -> str:
        parts = [*sorted(set(self.imports.values())), "", *self.constants.values(), ""]
        for d in reversed(self.defs):
            parts += [d, "", ""]
        text = "\n".join([*parts, *self.aliases]).strip() + "\n"
        clashes = [n for n, obj in self.bound.items() if n in avoid and not (
            isinstance(obj, types.ModuleType) and obj.__name__ == avoid[n])]
        if not clashes:
            return text
        taken = _names(text) | set(self.bound) | set(avoid)
        renames = {}
        for n in clashes:
            renames[n] = next(c for c in (f"{n}_fn", f"_{n}_fn", *(f"{n}_fn{i}" for i in range(2, 99)))
                              if c not in taken)
            taken.add(renames[n])
        return rename(text, renames)


def _names(source: str) -> set[str]:
    return {t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME}


def rename(source: str, renames: Mapping[str, str]) -> str:
    """Rename names in Python source token by token: comments, strings, attribute names
    (``x.tf``) and keyword arguments (``f(tf=1)``) are left alone, the layout is kept."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
              if t.type not in (tokenize.NL, tokenize.COMMENT)]
    edits, depth = [], 0
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        if tok.type != tokenize.NAME or tok.string not in renames:
            continue
        before = tokens[i - 1].string if i else ""
        after = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if before == "." or (depth and after == "=" and before in "(,"):
            continue
        edits.append((tok.start, tok.end, renames[tok.string]))
    lines = source.splitlines(keepends=True)
    for (row, start), (_, end), new in reversed(edits):
        lines[row - 1] = lines[row - 1][:start] + new + lines[row - 1][end:]
    return "".join(lines)


def inline(fn: Callable[..., Any], name: str = "recipe", avoid: Mapping[str, str | None] = {},
           shims: Mapping[str, tuple[str, tuple[str, ...]]] = {}) -> str:
    """Standalone source that defines ``name`` as ``fn`` (raises NotInlinable). A name in
    ``avoid`` (the names the surrounding script defines: a module's name, or None) that the
    recipe binds to something else is renamed throughout the inlined code; ``shims``
    replace project helpers (qualified name -> (source, imports)), beside SHIMS."""
    inliner = _Inliner({**SHIMS, **shims})
    inliner.bind(name, fn)
    return inliner.text(avoid)
