"""The README documents every setting, and documents nothing that is not a setting."""

from __future__ import annotations

import re
from pathlib import Path

from dripbridge.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"^\| `(DRIP_[A-Z_]+)` \|", README, flags=re.MULTILINE))
    expected = {f"DRIP_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected
