"""The set-up a newcomer meets: the README's two commands, CI running the same test command, and every
package the code imports declared in setup.py (a package installed by hand must not make CI green).

Oracles: the README text itself, Python's own list of standard-library modules (`sys.stdlib_module_names`)
and the installed distributions' metadata (`importlib.metadata.packages_distributions`).
"""
import ast
import importlib.metadata
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*parts):
    with open(os.path.join(REPO, *parts)) as f:
        return f.read()


def _readme_commands():
    """The shell lines of the README's set-up section, in order."""
    section = _read("README.md").split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return [line for block in re.findall(r"```bash\n(.*?)```", section, re.S) for line in block.splitlines()
            if line.strip()]


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_second():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    main_job, tests = commands
    assert "pip install" in main_job and "gan-bench" in main_job
    assert "pip install" in tests and "pytest" in tests
    ci = _read(".ci", "run")
    assert tests in ci.splitlines(), f"{tests!r} is not a line of .ci/run"
    assert "venv" in ci and "mktemp" in ci  # a fresh environment in a temporary folder


def _setup_requirements():
    """(install_requires, extras) of setup.py, read from its AST (no setuptools run)."""
    tree = ast.parse(_read("setup.py"))
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords
          if k.arg in ("install_requires", "extras_require")}
    name = lambda req: re.split(r"[<>=!~\[; ]", req, 1)[0].lower().replace("_", "-")
    return ({name(r) for r in kw["install_requires"]},
            {name(r) for reqs in kw["extras_require"].values() for r in reqs})


def _imports(path):
    """(module-level imports, imports inside functions or try blocks) of one source file: top-level names."""
    tree = ast.parse(open(path).read())
    top, nested = set(), set()

    def visit(node, inside):
        for child in ast.iter_child_nodes(node):
            deeper = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Try, ast.If))
            if isinstance(child, ast.Import):
                names = [a.name.split(".")[0] for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module.split(".")[0]]
            else:
                names = []
            (nested if inside else top).update(names)
            visit(child, deeper)
    visit(tree, False)
    return top, nested


# Executor back-ends loaded only when chosen (`--executor ray|slurm`): their imports come from an extra.
OPTIONAL_MODULES = {"gan_bench/sweep/ray_executor.py", "gan_bench/sweep/slurm_executor.py"}


def test_every_imported_package_is_declared_in_setup_py():
    required, extras = _setup_requirements()
    dists = importlib.metadata.packages_distributions()
    missing = []
    for root, _, files in os.walk(os.path.join(REPO, "gan_bench")):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(root, f)
            top, nested = _imports(path)
            if os.path.relpath(path, REPO) in OPTIONAL_MODULES:
                top, nested = set(), top | nested
            for names, allowed, where in ((top, required, "install_requires"),
                                          (nested - top, required | extras, "install_requires or an extra")):
                for mod in sorted(names):
                    if mod in sys.stdlib_module_names or mod == "gan_bench":
                        continue
                    owners = {d.lower().replace("_", "-") for d in dists.get(mod, [])}
                    if not owners:  # not installed here: its import name must be a declared requirement
                        if mod.lower().replace("_", "-") not in allowed:
                            missing.append(f"{os.path.relpath(path, REPO)}: {mod} is not installed here and not "
                                           f"in setup.py's {where}")
                        continue
                    if not owners & allowed:
                        missing.append(f"{os.path.relpath(path, REPO)}: {mod} from {sorted(owners)} is not in "
                                       f"setup.py's {where}")
    assert not missing, "\n".join(missing)
