"""The web view's HTML pages (`/`, `/holders/{slug}`, `/sources`, `/about`): filled by the
pages' own module; ``create_app`` mounts ``routes``."""

from __future__ import annotations

from typing import Any

routes: list[Any] = []
