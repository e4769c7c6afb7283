"""nox sessions for the whole monorepo; the package list comes from packages/**/pyproject.toml."""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.sessions = ["lint", "typecheck", "imports", "tests", "isolated_install"]
nox.options.reuse_existing_virtualenvs = True
TEST_TOOLS = ["pytest>=7", "pytest-xdist", "pytest-timeout", "hypothesis>=6"]


def _distributions() -> dict[str, Path]:
    """Distribution name -> folder, for every pyproject.toml under packages/."""
    found = {}
    for pyproject in sorted(ROOT.glob("packages/**/pyproject.toml")):
        if any(part in {"build", ".nox", "node_modules"} for part in pyproject.parts):
            continue
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        found[name] = pyproject.parent
    return found


DISTS = _distributions()


def _local_deps(name: str, seen: set[str] | None = None) -> list[str]:
    """The local distributions ``name`` needs, dependencies first, ``name`` last."""
    seen = set() if seen is None else seen
    if name in seen:
        return []
    seen.add(name)
    meta = tomllib.loads((DISTS[name] / "pyproject.toml").read_text())["project"]
    order: list[str] = []
    for req in meta.get("dependencies", []):
        dep = re.split(r"[\s<>=~!\[;]", req, maxsplit=1)[0]
        if dep in DISTS:
            order += _local_deps(dep, seen)
    return order + [name]


def _install_local(session: nox.Session, names: list[str], editable: bool = False) -> None:
    """Install local distributions in dependency order (virt-util first: it compiles the cffi modules)."""
    ordered: list[str] = []
    for n in names:
        for dep in _local_deps(n, set()):
            if dep not in ordered:
                ordered.append(dep)
    args = []
    for n in ordered:
        args += ["-e", str(DISTS[n])] if editable else [str(DISTS[n])]
    try:
        session.install(*args)
    finally:
        # setuptools builds a non-editable install inside the source folder: leave the tree clean.
        for n in ordered:
            shutil.rmtree(DISTS[n] / "build", ignore_errors=True)


def _test_dirs(names: list[str]) -> list[str]:
    return [str(DISTS[n] / "tests") for n in names if (DISTS[n] / "tests").is_dir()]


@nox.session
def tests(session: nox.Session) -> None:
    """Every distribution installed together; all package tests and the cross-package tests."""
    session.install(*TEST_TOOLS, "import-linter")
    _install_local(session, list(DISTS))
    jobs = os.environ.get("VIRT_TEST_JOBS", "auto")
    session.run("pytest", "-p", "no:cacheprovider", "-n", jobs, "--dist", "loadgroup",
                *_test_dirs(list(DISTS)), str(ROOT / "tests"), *session.posargs)
    # virt-conf's XML engine once more through its pure-Python twin (the C engine built, turned off)
    session.run("pytest", "-p", "no:cacheprovider", "-n", jobs, *_test_dirs(["virt-conf"]), *session.posargs,
                env={"VIRT_NO_NATIVE": "1"})


@nox.session
def tests_pure(session: nox.Session) -> None:
    """The suite with the native (cffi) modules disabled: the pure-Python twins must pass it too."""
    session.env["VIRT_NO_NATIVE"] = "1"
    session.install(*TEST_TOOLS)
    _install_local(session, list(DISTS))
    session.run("pytest", "-p", "no:cacheprovider", "-n", "auto", *_test_dirs(["virt-util", "virt-core"]),
                *session.posargs)


@nox.session
@nox.parametrize("package", sorted(DISTS))
def package(session: nox.Session, package: str) -> None:
    """One distribution installed alone with only its dependencies, and its own tests."""
    session.install(*TEST_TOOLS)
    _install_local(session, [package])
    dirs = _test_dirs([package])
    if not dirs:
        session.error(f"{package} has no tests/ folder")
    session.run("pytest", "-p", "no:cacheprovider", "-n", "auto", *dirs, *session.posargs)


@nox.session
def imports(session: nox.Session) -> None:
    """The dependency rule (import-linter contracts in .importlinter)."""
    session.install("import-linter")
    _install_local(session, list(DISTS))
    session.run("lint-imports", "--config", str(ROOT / ".importlinter"))


@nox.session
def isolated_install(session: nox.Session) -> None:
    """A fresh venv with only virt-core has just the test driver (and the remote client transport);
    adding the template adds exactly that driver."""
    _install_local(session, ["virt-core"])
    session.run("python", str(ROOT / "tests" / "check_drivers.py"), "--expect", "remote,test")
    _install_local(session, ["virt-driver-example"])
    session.run("python", str(ROOT / "tests" / "check_drivers.py"), "--expect", "remote,test,example")


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "packages", "tests", "bench", "tools", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("mypy", "lxml-stubs", "types-setuptools")
    _install_local(session, list(DISTS))
    session.run("mypy", "--namespace-packages", "--explicit-package-bases", "-p", "virt.util", "-p", "virt.conf",
                "-p", "virt.core")


@nox.session
def build(session: nox.Session) -> None:
    """sdist and wheel of every distribution into dist/."""
    session.install("build")
    out = ROOT / "dist"
    shutil.rmtree(out, ignore_errors=True)
    for folder in DISTS.values():
        session.run("python", "-m", "build", "--outdir", str(out), str(folder))
