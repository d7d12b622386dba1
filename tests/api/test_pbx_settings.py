"""PBXES, the per-PBX variables and tokens scoped to PBXes: parsing, errors, narrowing.

Pure units (no services): what `load_settings` makes of the settings and what
a token's grant is on each PBX.
"""

from __future__ import annotations

import pytest

from api.auth import AccessPolicy, PbxAccessPolicy
from api.errors import NotFound
from api.settings import Settings, SettingsError, load_settings, parse_api_tokens
from ingest.keys import KeySchema, hash_tag, pbx_prefix
from ingest.pbxes import DEFAULT_PBX, parse_pbxes

SECRET_VALUE = "do-not-show-me-123"


def _settings(**overrides: object) -> Settings:
    return load_settings(_env_file=None, log_file="", **overrides)


def test_without_pbxes_there_is_one_default_pbx_with_the_global_settings() -> None:
    settings = _settings(redis_key_prefix="t:", ami_host="pbx.example", ami_port=5039)
    (only,) = settings.pbx_configs
    assert (only.name, only.key_prefix, only.records_pbx) == (DEFAULT_PBX, "t:", "")
    assert (only.ami_host, only.ami_port) == ("pbx.example", 5039)
    assert not settings.several_pbxes
    assert KeySchema(only.key_prefix).operator("PJSIP/1") == "t:queue:operator:PJSIP/1"


def test_pbxes_are_namespaces_with_their_own_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PBX_EAST_1_AMI_SECRET", SECRET_VALUE)
    monkeypatch.setenv("PBX_EAST_1_AMI_USERNAME", "east-user")
    monkeypatch.setenv("PBX_WEST_DATABASE_URL", "postgresql://west:pw-west@127.0.0.1:5432/west")
    settings = _settings(
        pbxes="east-1=10.0.0.1:5038, west=10.0.0.2",
        redis_key_prefix="p:",
        ami_username="global",
        ami_secret="global-secret",
    )
    east, west = settings.pbx_configs
    assert (east.name, east.key_prefix, east.records_pbx) == ("east-1", "p:{east-1}:", "east-1")
    assert (east.ami_host, east.ami_port, east.ami_username) == ("10.0.0.1", 5038, "east-user")
    assert east.ami_secret.get_secret_value() == SECRET_VALUE
    assert (west.ami_port, west.ami_username) == (5038, "global")
    assert west.ami_secret.get_secret_value() == "global-secret"
    assert west.database_url.get_secret_value().endswith("/west")
    assert east.database_url == settings.database_url
    assert SECRET_VALUE in settings.secrets() and "pw-west" in settings.secrets()
    assert SECRET_VALUE not in repr(east) and SECRET_VALUE not in repr(settings.pbx_configs)
    assert KeySchema(west.key_prefix).changes == "p:{west}:queue-status:changes"
    assert pbx_prefix("", "a") == "{a}:"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("east", "Invalid setting PBXES: entry 1 must look like name=ami-host:port"),
        ("East=h:1", "Invalid setting PBXES: entry 1 has an invalid name"),
        ("a=h:1,a=h:2", "Invalid setting PBXES: entry 2 repeats the name 'a'"),
        ("a=h:0", "Invalid setting PBXES: entry 1 (a) has a port that is not 1-65535"),
        ("a=h:x", "Invalid setting PBXES: entry 1 (a) has a port that is not 1-65535"),
        ("a=:5038", "Invalid setting PBXES: entry 1 (a) has no AMI host"),
        ("-a=h:1", "Invalid setting PBXES: entry 1 has an invalid name"),
    ],
)
def test_a_bad_pbxes_is_one_line_naming_it(raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        _settings(pbxes=raw)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_a_bad_per_pbx_variable_is_named_without_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PBX_EAST_AMI_SECRET", SECRET_VALUE + "\n")
    with pytest.raises(SettingsError) as raised:
        _settings(pbxes="east=h:1")
    assert str(raised.value).startswith("Invalid setting PBX_EAST_AMI_SECRET:")
    assert SECRET_VALUE not in str(raised.value)
    monkeypatch.delenv("PBX_EAST_AMI_SECRET")
    monkeypatch.setenv("PBX_EAST_DATABASE_URL", f"mysql://u:{SECRET_VALUE}@h/db")
    with pytest.raises(SettingsError) as raised:
        _settings(pbxes="east=h:1")
    assert str(raised.value).startswith("Invalid setting PBX_EAST_DATABASE_URL:")
    assert SECRET_VALUE not in str(raised.value)


def test_per_pbx_variables_are_ignored_without_pbxes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PBX_EAST_AMI_SECRET", "bad\nvalue")
    (only,) = _settings(ami_secret="global").pbx_configs
    assert only.ami_secret.get_secret_value() == "global"


def test_parse_pbxes_empty_and_spaces() -> None:
    assert parse_pbxes("") == ()
    assert [p.name for p in parse_pbxes(" a=h:1 , ,b=[::1]:2 ")] == ["a", "b"]
    assert parse_pbxes("b=[::1]:2")[0].host == "::1"


def _grants(scope: str) -> tuple[AccessPolicy, str]:
    tokens = parse_api_tokens(f"viewer:tok-1:{scope}")
    return AccessPolicy(tokens, host_is_loopback=True), "Bearer tok-1"


@pytest.mark.parametrize(
    ("scope", "east", "west"),
    [
        ("", None, None),  # everything
        ("*", None, None),
        ("sales", {"sales"}, {"sales"}),  # a bare queue: on every PBX
        ("east/*", None, "out"),
        ("east/sales", {"sales"}, "out"),
        ("east/sales+support", {"sales", "support"}, {"support"}),
        ("east/*+support", None, {"support"}),
        ("east/sales+west/*", {"sales"}, None),
        ("east/sales+east/*", None, "out"),
    ],
)
def test_a_token_scope_narrows_to_each_pbx(
    scope: str, east: set[str] | str | None, west: set[str] | str | None
) -> None:
    policy, header = _grants(scope)
    for pbx, expected in (("east", east), ("west", west)):
        narrowed = PbxAccessPolicy(policy, pbx)
        if expected == "out":
            assert not narrowed.sees(header)
            with pytest.raises(NotFound, match=f"no such PBX: '{pbx}'"):
                narrowed.grant(header)
            continue
        grant = narrowed.grant(header)
        assert grant.queues == (None if expected is None else frozenset(expected))
        assert grant.pbxes is None


def test_the_scope_label_spells_the_pbx_entries() -> None:
    policy, header = _grants("support+west/*+east/sales")
    assert policy.grant(header).scope_label == "support+east/sales+west/*"
    assert repr(parse_api_tokens("viewer:tok-1:east/*")[0]) == (
        "ApiToken(role=viewer, queues=east/*)"
    )


@pytest.mark.parametrize("scope", ["East/sales", "east/", "/sales", "east/sa les", "a/b/c"])
def test_a_bad_pbx_scope_is_refused(scope: str) -> None:
    with pytest.raises(ValueError, match="entry 1 has an invalid"):
        parse_api_tokens(f"viewer:tok-1:{scope}")


def test_an_unscoped_token_sees_every_pbx_and_no_token_sees_them_while_reads_are_open() -> None:
    policy = AccessPolicy(parse_api_tokens("admin:tok-1"), host_is_loopback=True)
    assert PbxAccessPolicy(policy, "west").grant("Bearer tok-1").queues is None
    assert PbxAccessPolicy(policy, "west").grant(None).queues is None


def test_in_a_redis_cluster_each_pbx_is_its_own_hash_tag() -> None:
    settings = _settings(redis_cluster=True, pbxes="east=h:1,west=h:2")
    assert [hash_tag(p.key_prefix) for p in settings.pbx_configs] == ["east", "west"]
    with pytest.raises(SettingsError, match="Invalid setting REDIS_KEY_PREFIX: needs a hash tag"):
        _settings(redis_cluster=True)
