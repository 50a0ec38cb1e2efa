"""The README's Python example against the generated bindings: its imports resolve, and every
call it makes exists with arguments that bind (the example itself needs a peer to run)."""

import ast
import inspect
import pathlib
import re

import qtum_lightning

README = pathlib.Path(__file__).resolve().parents[3] / "README.md"


def python_blocks():
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```$", text, re.S | re.M)


def check_binds(function, call, bound_self):
    args = [None] * len(call.args)
    kwargs = {k.arg: None for k in call.keywords if k.arg}
    signature = inspect.signature(function)
    try:
        if bound_self:
            signature.bind(None, *args, **kwargs)
        else:
            signature.bind(*args, **kwargs)
    except TypeError as e:
        raise AssertionError(f"README line {call.lineno}: {ast.unparse(call)}: {e}") from None


def test_readme_python_example_matches_the_api():
    blocks = python_blocks()
    assert blocks, "the README has a Python example"
    for code in blocks:
        tree = ast.parse(code)
        # Everything but the top-level asyncio.run(...) that would start it.
        body = [s for s in tree.body
                if not (isinstance(s, ast.Expr) and ast.unparse(s).startswith("asyncio.run("))]
        namespace = {}
        exec(compile(ast.Module(body=body, type_ignores=[]), "README.md", "exec"), namespace)
        assert inspect.iscoroutinefunction(namespace["main"])
        objects = {"node": qtum_lightning.Node, "builder": qtum_lightning.Builder}
        checked = 0
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and func.value.id in objects):
                cls = objects[func.value.id]
                assert hasattr(cls, func.attr), f"{cls.__name__} has no {func.attr}"
                check_binds(getattr(cls, func.attr), call, bound_self=True)
                checked += 1
            elif isinstance(func, ast.Name) and hasattr(qtum_lightning, func.id):
                target = getattr(qtum_lightning, func.id)
                if inspect.isfunction(target):
                    check_binds(target, call, bound_self=False)
                    checked += 1
        assert checked >= 5, "the example's calls were found"
