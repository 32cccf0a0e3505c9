"""The templates under infra/, parsed once per session with pycep-parser from .venv-iac."""

from __future__ import annotations

import pytest

from tests.infra.bicep import Template, bicep_files, load


@pytest.fixture(scope="session")
def templates() -> dict[str, Template]:
    """Every .bicep file under infra/, by its path there (``main.bicep``, ``modules/storage.bicep``)."""
    return load(bicep_files())


@pytest.fixture(scope="session")
def main(templates: dict[str, Template]) -> Template:
    return templates["main.bicep"]


@pytest.fixture(scope="session")
def storage(templates: dict[str, Template]) -> Template:
    return templates["modules/storage.bicep"]


@pytest.fixture(scope="session")
def functionapp(templates: dict[str, Template]) -> Template:
    return templates["modules/functionapp.bicep"]


@pytest.fixture(scope="session")
def monitoring(templates: dict[str, Template]) -> Template:
    return templates["modules/monitoring.bicep"]


@pytest.fixture(scope="session")
def openai(templates: dict[str, Template]) -> Template:
    return templates["modules/openai.bicep"]


@pytest.fixture(scope="session")
def app_settings(functionapp: Template) -> dict[str, object]:
    """The function app's settings, name to (unresolved) value, in declaration order."""
    site = functionapp.only("Microsoft.Web/sites")
    settings = site.get("properties", "siteConfig", "appSettings")
    assert isinstance(settings, list), "appSettings must be a literal list"
    names = [setting["name"] for setting in settings]
    assert len(names) == len(set(names)), f"duplicate app settings: {names}"
    return {setting["name"]: setting["value"] for setting in settings}
