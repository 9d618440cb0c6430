"""Readable default run names ("brave-otter-417"), as MLflow users are used to."""

from __future__ import annotations

import secrets

_ADJECTIVES = (
    "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "eager", "fair", "gentle",
    "glad", "keen", "kind", "lively", "lucid", "merry", "nimble", "proud", "quick", "quiet",
    "rapid", "sharp", "shy", "silent", "steady", "sunny", "swift", "tidy", "vivid", "warm",
)  # fmt: skip
_NOUNS = (
    "ant", "bass", "bear", "crane", "deer", "dove", "eel", "falcon", "finch", "fox",
    "gull", "hare", "heron", "ibis", "lark", "lynx", "mole", "moth", "newt", "otter",
    "owl", "panda", "quail", "robin", "seal", "shrew", "swan", "toad", "wasp", "wren",
)  # fmt: skip


def random_run_name() -> str:
    adjective = secrets.choice(_ADJECTIVES)
    noun = secrets.choice(_NOUNS)
    return f"{adjective}-{noun}-{secrets.randbelow(1000)}"
