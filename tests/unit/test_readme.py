"""The README documents every setting and nothing that is not a setting, and its guide to a new
consumer group builds on the newest migration."""

from __future__ import annotations

import re
from pathlib import Path

from alembic.script import ScriptDirectory

from core.db import alembic_config
from core.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"^\| `(DRIP_[A-Z_]+)` \|", README, flags=re.MULTILINE))
    expected = {f"DRIP_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def _heads() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(Settings()))
    return list(script.get_heads())


def test_the_migrations_have_one_head() -> None:
    heads = _heads()
    assert len(heads) == 1, (
        f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}): give the newest "
        "migration the previous head as down_revision"
    )


def test_the_guide_to_a_new_group_names_the_current_head() -> None:
    guide = README.split("## Add a consumer group", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r'down_revision = "([^"]+)"', guide)
    assert named == _heads(), "README 'Add a consumer group': down_revision must be the head"
