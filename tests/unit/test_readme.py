"""The README's configuration table is the settings class, field for field: names in order, defaults and
descriptions (so the table cannot drift from what the service reads)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic.fields import FieldInfo

from server.settings import Settings

README = Path(__file__).parents[2] / "README.md"
ROW = re.compile(r"^\| `([A-Z_0-9]+)` \| (.*?) \| (.*?) \|$", re.MULTILINE)


def rendered_default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return f"`{','.join(value)}`"
    return f"`{value}`"


def plain(text: str) -> str:
    """A description without Markdown code marks or a final period."""
    return text.replace("`", "").rstrip(".")


def test_the_configuration_table_is_the_settings_class() -> None:
    rows = ROW.findall(README.read_text())
    expected = [
        (name.upper(), rendered_default(field), plain(field.description or ""))
        for name, field in Settings.model_fields.items()
    ]
    assert [(name, default, plain(meaning)) for name, default, meaning in rows] == expected
