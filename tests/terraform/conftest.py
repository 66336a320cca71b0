"""Fixtures for the Terraform tests: the root module in terraform/, parsed once."""

from __future__ import annotations

import pytest

from tests.terraform.tfmodule import Module, load_module


@pytest.fixture(scope="session")
def tf() -> Module:
    return load_module()
