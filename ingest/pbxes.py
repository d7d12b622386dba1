"""Several PBXes in one deployment: `PBXES=name=ami-host:port,…` and each one's settings.

Without PBXES there is one PBX, named `DEFAULT_PBX` in the API, whose AMI is
AMI_HOST/AMI_PORT/AMI_USERNAME/AMI_SECRET, whose keys carry REDIS_KEY_PREFIX
only and whose call records have the empty `pbx` (everything as before).

With PBXES every PBX is a namespace: its keys live under
`ingest.keys.pbx_prefix(REDIS_KEY_PREFIX, name)` (a Redis Cluster hash tag), its
call records carry `pbx = name`, and its AMI user, secret and realtime
database come from `PBX_<NAME>_AMI_USERNAME`, `PBX_<NAME>_AMI_SECRET` and
`PBX_<NAME>_DATABASE_URL` (NAME upper-cased, `-` as `_`), else from
AMI_USERNAME, AMI_SECRET and DATABASE_URL. Errors name the setting, never a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from ingest import config_checks as checks
from ingest.keys import pbx_prefix

DEFAULT_PBX = "default"
"""The name the API gives the one PBX of a deployment without PBXES."""

PBX_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
PBX_NAME_RULE = "1-32 of a-z 0-9 _ -, starting with a letter or digit"


@dataclass(frozen=True, slots=True)
class PbxEndpoint:
    """One entry of PBXES: the PBX's name and where its AMI listens."""

    name: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class PbxConfig:
    """Everything one PBX needs: its namespace, its AMI and its realtime database."""

    name: str
    key_prefix: str
    """The prefix of every Redis key of this PBX."""
    records_pbx: str
    """The `pbx` column of its call records ("" for the one PBX without PBXES)."""
    ami_host: str
    ami_port: int
    ami_username: str
    ami_secret: SecretStr
    database_url: SecretStr
    """Its realtime `queues`/`queue_members` tables (the call records share DATABASE_URL)."""

    def __repr__(self) -> str:  # the secret and the URL stay out of logs
        return f"PbxConfig(name={self.name!r}, ami={self.ami_host}:{self.ami_port})"


def parse_pbxes(raw: str) -> tuple[PbxEndpoint, ...]:
    """Parse `name=host:port,…` (empty: no PBXES). Raises ValueError naming the entry."""
    endpoints: list[PbxEndpoint] = []
    for index, item in enumerate(part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, address = item.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"entry {index + 1} must look like name=ami-host:port")
        if not PBX_NAME.match(name):
            raise ValueError(f"entry {index + 1} has an invalid name ({PBX_NAME_RULE})")
        if any(seen.name == name for seen in endpoints):
            raise ValueError(f"entry {index + 1} repeats the name {name!r}")
        host, colon, port_text = address.strip().rpartition(":")
        if not colon:
            host, port_text = port_text, "5038"
        host = host.strip().removeprefix("[").removesuffix("]")
        try:
            host = checks.host_name(host)
        except ValueError:
            raise ValueError(f"entry {index + 1} ({name}) has no AMI host") from None
        if not port_text.strip().isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"entry {index + 1} ({name}) has a port that is not 1-65535")
        endpoints.append(PbxEndpoint(name, host, int(port_text)))
    return tuple(endpoints)


def env_name(pbx: str, setting: str) -> str:
    """`PBX_<NAME>_<SETTING>`, e.g. `PBX_EAST_1_AMI_SECRET` for `east-1`."""
    return f"PBX_{pbx.upper().replace('-', '_')}_{setting}"


def per_pbx_environment(env_file: str | Path | None) -> dict[str, str]:
    """The `PBX_*` variables of the process environment and of the `.env` file
    (upper-cased names; the environment wins, as for every other setting)."""
    found: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values

        for key, value in dotenv_values(env_file).items():
            if key.upper().startswith("PBX_") and value is not None:
                found[key.upper()] = value
    for key, value in os.environ.items():
        if key.upper().startswith("PBX_"):
            found[key.upper()] = value
    return found


class PbxSettingError(ValueError):
    """A per-PBX variable is invalid; `setting` is its name (e.g. PBX_EAST_AMI_SECRET)."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


def pbx_configs(
    endpoints: tuple[PbxEndpoint, ...],
    *,
    key_prefix: str,
    ami_host: str,
    ami_port: int,
    ami_username: str,
    ami_secret: SecretStr,
    database_url: SecretStr,
    environment: Mapping[str, str],
) -> tuple[PbxConfig, ...]:
    """Each PBX's settings (one `DEFAULT_PBX` with the global ones when `endpoints` is
    empty). Raises PbxSettingError naming the bad variable."""
    if not endpoints:
        return (
            PbxConfig(
                DEFAULT_PBX,
                key_prefix,
                "",
                ami_host,
                ami_port,
                ami_username,
                ami_secret,
                database_url,
            ),
        )
    configs = []
    for endpoint in endpoints:
        username = _own(environment, endpoint.name, "AMI_USERNAME", checks.no_line_breaks)
        secret = _own(environment, endpoint.name, "AMI_SECRET", checks.no_line_breaks)
        database = _own(environment, endpoint.name, "DATABASE_URL", _database_url)
        configs.append(
            PbxConfig(
                endpoint.name,
                pbx_prefix(key_prefix, endpoint.name),
                endpoint.name,
                endpoint.host,
                endpoint.port,
                ami_username if username is None else username,
                ami_secret if secret is None else SecretStr(secret),
                database_url if database is None else SecretStr(database),
            )
        )
    return tuple(configs)


def _database_url(value: str) -> str:
    checks.database_url(value)
    return value


def _own(
    environment: Mapping[str, str], pbx: str, setting: str, check: Callable[[str], object]
) -> str | None:
    name = env_name(pbx, setting)
    value = environment.get(name)
    if value is None or value == "":
        return None
    try:
        check(value)
    except ValueError as exc:
        raise PbxSettingError(name, str(exc)) from None
    return value
