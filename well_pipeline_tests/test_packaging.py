"""What `pip install well-pipeline` brings is what production imports; the sandboxes' packages come only with the
`sandbox` extra.

The imports are read from the source (every module outside `well_pipeline/sandbox/`), the requirements from
pyproject.toml, and what each requirement pulls in from the installed distributions' metadata: a new production
import of a package nobody declared, or a sandbox-only package creeping into production, fails here.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from well_pipeline.cli.main import SANDBOX_ONLY_MODULES

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "well_pipeline"
SANDBOX = PACKAGE / "sandbox"


@cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def installed_closure(requirements: Iterable[str]) -> set[str]:
    """The distributions `pip install` brings for `requirements` (no extras), as canonical names."""
    seen: set[str] = set()
    todo = [Requirement(text) for text in requirements]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name not in seen:
            seen.add(name)
            todo.extend(Requirement(text) for text in distribution(requirement.name).requires or ())
    return seen


def third_party_imports(files: Iterable[Path]) -> set[str]:
    """Top-level names of the non-stdlib, non-Well modules `files` import (function-level imports included)."""
    names: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name not in {"well_pipeline"}}


@cache
def module_index() -> dict[str, list[str]]:
    return packages_distributions()


@cache
def distributions_of(module: str) -> frozenset[str]:
    found = module_index().get(module)
    assert found, f"no installed distribution provides the module {module!r}"
    return frozenset(canonicalize_name(name) for name in found)


POSTGRES_STORE = PACKAGE / "adapters" / "storage" / "postgres"  # needs the `postgres` extra (psycopg)
S3_STORE = PACKAGE / "adapters" / "storage" / "attachment_s3.py"  # needs the `s3` extra (boto3)


def production_files() -> list[Path]:
    return [path for path in PACKAGE.rglob("*.py")
            if SANDBOX not in path.parents and POSTGRES_STORE not in path.parents and path != S3_STORE]


def test_a_production_install_provides_every_module_production_imports() -> None:
    production = installed_closure(pyproject()["project"]["dependencies"])
    imported = third_party_imports(production_files())
    assert {"dagster", "duckdb", "anyascii"} <= imported  # the scan sees the imports (anyascii: name matching)
    missing = {module: distributions_of(module) for module in imported if not distributions_of(module) & production}
    assert not missing, f"imported outside the sandboxes but not installed by `pip install .`: {missing}"


def test_the_postgres_store_needs_only_the_postgres_extra_beyond_production() -> None:
    project = pyproject()["project"]
    production = installed_closure(project["dependencies"])
    extra = installed_closure(project["optional-dependencies"]["postgres"])
    imported = third_party_imports(POSTGRES_STORE.rglob("*.py"))
    assert "psycopg" in imported
    missing = {module: distributions_of(module) for module in imported
               if not distributions_of(module) & (production | extra)}
    assert not missing, f"the PostgreSQL store imports what neither production nor its extra installs: {missing}"
    assert "psycopg" not in third_party_imports(production_files())  # psycopg stays optional
    assert "well-pipeline[postgres]" in project["optional-dependencies"]["test"]


def test_the_s3_document_store_needs_only_the_s3_extra_beyond_production() -> None:
    project = pyproject()["project"]
    production = installed_closure(project["dependencies"])
    extra = installed_closure(project["optional-dependencies"]["s3"])
    imported = third_party_imports([S3_STORE])
    assert {"boto3", "botocore"} <= imported
    missing = {module: distributions_of(module) for module in imported
               if not distributions_of(module) & (production | extra)}
    assert not missing, f"the s3:// store imports what neither production nor its extra installs: {missing}"
    assert not {"boto3", "botocore"} & third_party_imports(production_files())  # boto3 stays optional
    assert "well-pipeline[s3]" in project["optional-dependencies"]["test"]


def test_the_sandboxes_packages_come_only_with_the_sandbox_extra() -> None:
    project = pyproject()["project"]
    production = installed_closure(project["dependencies"])
    extra = {canonicalize_name(Requirement(text).name) for text in project["optional-dependencies"]["sandbox"]}
    sandbox_only = {module: distributions_of(module) for module in third_party_imports(SANDBOX.rglob("*.py"))
                    if not distributions_of(module) & production}
    assert set().union(*sandbox_only.values()) == extra  # each one is needed, none is missing
    assert not extra & production  # so `pip install .` leaves aiosmtpd and Pillow out
    assert set(sandbox_only) == SANDBOX_ONLY_MODULES  # what `well sandbox ...` explains when it is missing
    assert "well-pipeline[sandbox,dev]" in project["optional-dependencies"]["test"]  # tests and demo get them


def test_the_licence_is_an_spdx_expression_for_a_setuptools_that_reads_it() -> None:
    """A licence table makes setuptools 77+ print a deprecation banner on every install."""
    assert pyproject()["project"]["license"] == "Apache-2.0"
    (setuptools,) = [Requirement(text) for text in pyproject()["build-system"]["requires"]
                     if Requirement(text).name == "setuptools"]
    assert "76.9" not in setuptools.specifier and "77.0" in setuptools.specifier
