"""The ingest's settings: Redis, the database, AMI, logging. Read from the environment
and `.env`; names match the environment variables.

The service's one settings object (`api.settings.Settings`) extends these with
the API's own (HTTP, CORS, tokens, GraphQL) and is built, validated and
reported in one place (`api.settings.load_settings`); nothing here knows the API.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PrivateAttr, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest import config_checks as checks
from ingest.ami.relevance import DEFAULT_EVENT_CLASSES, normalise_event_mask
from ingest.config_checks import SettingProblem
from ingest.keys import cluster_prefix_problem
from ingest.pbxes import PbxConfig, parse_pbxes, pbx_configs, per_pbx_environment
from ingest.redis_sentinel import master_name, parse_sentinels


class IngestSettings(BaseSettings):
    """The knobs of the live state's owner: where Redis and the database are, how AMI
    is reached, where logs go."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_key_prefix: str = ""
    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/postgres")
    # Redis behind Sentinel (ingest/redis_sentinel.py): the sentinels (host:port,…) and
    # the master's name; the master's user, password and database come from REDIS_URL.
    redis_sentinels: str = ""
    redis_sentinel_master: str = Field(default="", validate_default=True)
    redis_sentinel_password: SecretStr = SecretStr("")
    # Redis Cluster (ingest/redis_client.py): on, and the seed nodes (host:port,…; empty:
    # REDIS_URL's host and port); the password and TLS come from REDIS_URL. Every key of
    # a PBX then needs one hash tag in REDIS_KEY_PREFIX (`{main}:`).
    redis_cluster: bool = False
    redis_cluster_nodes: str = ""

    ami_enabled: bool = True
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_username: str = "admin"
    ami_secret: SecretStr = SecretStr("")
    ami_reconcile_interval: float = Field(default=60.0, gt=0)
    ami_ping_interval: float = Field(default=10.0, gt=0)
    # AMI messages read but not yet applied; a full queue stops reading the socket (TCP
    # then makes Asterisk wait) until it is half empty (`ingest.runners.ami_runner`).
    ingest_queue_max: int = Field(default=5000, ge=100, le=1_000_000)
    # The Login `Events:` mask (`ingest.ami.relevance`): the classes of the events we
    # use, `on` for all (the raw pre-filter still drops the unused ones), `off` none.
    ami_events: str = DEFAULT_EVENT_CLASSES
    # Several PBXes (`ingest.pbxes`): name=ami-host:port,… — each one a namespace of its
    # own; its AMI user, secret and realtime database from PBX_<NAME>_AMI_USERNAME,
    # PBX_<NAME>_AMI_SECRET, PBX_<NAME>_DATABASE_URL, else the global ones.
    pbxes: str = ""
    # The elected ingest's lease per PBX (`ingest.election`), renewed every third of it;
    # a leader that dies is replaced within about this long.
    ingest_lease_seconds: float = Field(default=10.0, ge=0.3, le=600)

    # Call records waiting in Redis for PostgreSQL (a capped stream); beyond, new ones
    # are not buffered but counted (`records.overflow` in /healthz).
    records_buffer_max: int = Field(default=1_000_000, ge=1, le=100_000_000)
    # Days call records and agent intervals are kept; 0 keeps them forever.
    records_retention_days: int = Field(default=400, ge=0, le=36_500)

    log_file: str = "logs/app.log"
    log_level: str = "INFO"

    _pbx_configs: tuple[PbxConfig, ...] = PrivateAttr(default=())

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr) -> SecretStr:
        checks.redis_url(value.get_secret_value())
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _redis_sentinels(cls, value: str, info: ValidationInfo) -> str:
        if not parse_sentinels(value):
            return ""
        url = info.data.get("redis_url")
        if url is not None and url.get_secret_value().lower().startswith("unix:"):
            raise ValueError(
                "needs REDIS_URL to be redis:// or rediss:// (it gives the master's "
                "password and database)"
            )
        return value.strip()

    @field_validator("redis_sentinel_master")
    @classmethod
    def _redis_sentinel_master(cls, value: str, info: ValidationInfo) -> str:
        name = master_name(value)
        sentinels = info.data.get("redis_sentinels")
        if sentinels and not name:
            raise ValueError("is required when REDIS_SENTINELS is set")
        if name and sentinels == "":
            raise ValueError("needs REDIS_SENTINELS (host:port,…) as well")
        return name

    @field_validator("redis_sentinel_password")
    @classmethod
    def _redis_sentinel_password(cls, value: SecretStr) -> SecretStr:
        checks.no_line_breaks(value.get_secret_value())
        return value

    @field_validator("redis_cluster_nodes")
    @classmethod
    def _redis_cluster_nodes(cls, value: str) -> str:
        return value.strip() if parse_sentinels(value) else ""

    @model_validator(mode="after")
    def _redis_cluster_mode(self) -> IngestSettings:
        """Cluster mode's own rules: across settings, so each names the one to change."""
        if not self.redis_cluster:
            if self.redis_cluster_nodes:
                raise SettingProblem("redis_cluster_nodes", "needs REDIS_CLUSTER=true as well")
            return self
        if self.redis_sentinels:
            raise SettingProblem(
                "redis_cluster",
                "cannot be combined with REDIS_SENTINELS (a cluster fails over by itself): "
                "set one of them",
            )
        url = self.redis_url.get_secret_value()
        if url.lower().startswith("unix:"):
            raise SettingProblem(
                "redis_url",
                "must be redis:// or rediss:// when REDIS_CLUSTER is true (it gives the "
                "seed node, the password and TLS)",
            )
        if checks.redis_database(url) != 0:
            raise SettingProblem(
                "redis_url", "a Redis Cluster has database 0 only: end it with /0 or no path"
            )
        # With PBXES each PBX's prefix ends in its own tag (`ingest.keys.pbx_prefix`).
        problem = None if self.pbxes else cluster_prefix_problem(self.redis_key_prefix)
        if problem is not None:
            raise SettingProblem("redis_key_prefix", problem)
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        checks.database_url(value.get_secret_value())
        return value

    @field_validator("redis_key_prefix")
    @classmethod
    def _key_prefix(cls, value: str) -> str:
        return checks.key_prefix(value)

    @field_validator("ami_host")
    @classmethod
    def _ami_host(cls, value: str) -> str:
        return checks.host_name(value)

    @field_validator("ami_username")
    @classmethod
    def _ami_username(cls, value: str) -> str:
        return checks.no_line_breaks(value)

    @field_validator("ami_secret")
    @classmethod
    def _ami_secret(cls, value: SecretStr) -> SecretStr:
        checks.no_line_breaks(value.get_secret_value())
        return value

    @field_validator("ami_events")
    @classmethod
    def _ami_events(cls, value: str) -> str:
        return normalise_event_mask(value)

    @field_validator("pbxes")
    @classmethod
    def _pbxes(cls, value: str) -> str:
        parse_pbxes(value)
        return value.strip()

    @model_validator(mode="after")
    def _per_pbx(self) -> IngestSettings:
        env_file = self.model_config.get("env_file")
        self._pbx_configs = pbx_configs(
            parse_pbxes(self.pbxes),
            key_prefix=self.redis_key_prefix,
            ami_host=self.ami_host,
            ami_port=self.ami_port,
            ami_username=self.ami_username,
            ami_secret=self.ami_secret,
            database_url=self.database_url,
            environment=per_pbx_environment(env_file if isinstance(env_file, str) else None)
            if self.pbxes
            else {},
        )
        return self

    @property
    def pbx_configs(self) -> tuple[PbxConfig, ...]:
        """Every PBX of the deployment, the default one (the first) first: the PBXES
        entries, or the one PBX of AMI_HOST/AMI_PORT named `ingest.pbxes.DEFAULT_PBX`."""
        return self._pbx_configs

    @property
    def several_pbxes(self) -> bool:
        """Whether PBXES is set (keys, records and metrics then carry each PBX's name)."""
        return bool(self.pbxes)

    @property
    def sentinels(self) -> tuple[tuple[str, int], ...]:
        """REDIS_SENTINELS, parsed (empty: Redis is reached at REDIS_URL)."""
        return parse_sentinels(self.redis_sentinels)

    @property
    def cluster_nodes(self) -> tuple[tuple[str, int], ...]:
        """REDIS_CLUSTER_NODES, parsed; when empty, REDIS_URL's host and port."""
        nodes = parse_sentinels(self.redis_cluster_nodes)
        return nodes or ((checks.redis_host_port(self.redis_url.get_secret_value())),)

    @property
    def log_path(self) -> Path | None:
        """Where the log file goes, or None when file logging is off."""
        return Path(self.log_file) if self.log_file else None

    def secrets(self) -> list[str]:
        """Every secret value, so log redaction can hide them wherever they appear."""
        values = [
            self.ami_secret.get_secret_value(),
            self.redis_sentinel_password.get_secret_value(),
        ]
        urls = [self.redis_url, self.database_url]
        for pbx in self.pbx_configs:
            values.append(pbx.ami_secret.get_secret_value())
            urls.append(pbx.database_url)
        for url in urls:
            password = _url_password(url.get_secret_value())
            if password:
                values.append(password)
        return list(dict.fromkeys(value for value in values if value))


def _url_password(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password
    except ValueError:
        return None
