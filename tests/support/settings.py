"""Settings for tests: nothing read from a developer's `.env`."""

from __future__ import annotations

from typing import Any

from api.settings import Settings, load_settings

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_settings(*, prefix: str, database_url: str, **overrides: Any) -> Settings:
    """Settings on the real services under a test's own prefix and database."""
    values: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "redis_key_prefix": prefix,
        "database_url": database_url,
        "ami_enabled": False,
        "host": "127.0.0.1",
        "port": 0,
        "log_file": "",
        "api_tokens": "",
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)
