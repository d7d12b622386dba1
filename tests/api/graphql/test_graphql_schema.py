"""The schema as a document: exported file up to date, everything described, enums in step."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
)

from api import settings
from api.graphql import enums, grants
from api.graphql.export import main, schema_sdl
from api.graphql.schema import schema
from ingest import domain

ROOT = Path(__file__).resolve().parents[3]


def test_schema_graphql_matches_the_code() -> None:
    exported = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert exported == schema_sdl(), "schema.graphql is stale: run `make schema`"


def test_export_writes_what_the_test_compares(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    assert main(["--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == schema_sdl()


def _ours(named: GraphQLNamedType) -> bool:
    return not named.name.startswith("__") and named.name not in {
        "String",
        "Int",
        "Float",
        "Boolean",
        "ID",
    }


def test_every_type_field_argument_and_value_is_described() -> None:
    missing: list[str] = []
    for named in schema._schema.type_map.values():
        if not _ours(named):
            continue
        if not named.description:
            missing.append(named.name)
        if isinstance(named, GraphQLObjectType | GraphQLInputObjectType):
            for field_name, field in named.fields.items():
                if not field.description:
                    missing.append(f"{named.name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{named.name}.{field_name}({arg_name})")
        if isinstance(named, GraphQLEnumType):
            missing += [
                f"{named.name}.{value_name}"
                for value_name, value in named.values.items()
                if not value.description
            ]
        if isinstance(named, GraphQLScalarType):
            assert named.description, named.name
    assert missing == []


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (enums.OperatorStatus, domain.OperatorStatus),
        (enums.ChannelState, domain.ChannelState),
    ],
)
def test_graphql_enums_mirror_the_domain(ours: type[Enum], theirs: type[Enum]) -> None:
    assert {m.name: m.value for m in ours} == {m.name: m.value for m in theirs}


def test_the_role_enum_names_the_roles_of_api_tokens() -> None:
    # GraphQL's Role values are the role names API_TOKENS spells (and REST /access answers).
    ours: dict[str, object] = {m.name: m.value for m in grants.Role}
    assert ours == {m.name: m.name.lower() for m in settings.Role}


@pytest.mark.parametrize(
    ("root", "fields"),
    [
        (
            "Query",
            {
                "operators",
                "operator",
                "queues",
                "queue",
                "channels",
                "syncStatus",
                "snapshot",
                "access",
                "auditLog",
                "alertRules",
                "activeAlerts",
                "queueStats",
                "agentStats",
                "calls",
                "pbxes",
            },
        ),
        (
            "Mutation",
            {
                "setOperatorStatus",
                "resync",
                "clear",
                "pauseOperator",
                "unpauseOperator",
                "addQueueMember",
                "removeQueueMember",
                "setMemberPenalty",
                "listenToOperator",
                "setAlertRule",
                "deleteAlertRule",
            },
        ),
        (
            "Subscription",
            {"operatorUpdated", "queueUpdated", "channelUpdated", "changes", "alerts"},
        ),
    ],
)
def test_the_entry_points_of_the_issue_exist(root: str, fields: set[str]) -> None:
    root_type = schema._schema.type_map[root]
    assert isinstance(root_type, GraphQLObjectType)
    assert set(root_type.fields) == fields


def test_arguments_of_the_entry_points() -> None:
    query = schema._schema.type_map["Query"]
    subscription = schema._schema.type_map["Subscription"]
    assert isinstance(query, GraphQLObjectType)
    assert isinstance(subscription, GraphQLObjectType)
    assert set(query.fields["operators"].args) == {"queue", "status", "paused", "pbx"}
    assert set(query.fields["operator"].args) == {"memberId", "pbx"}
    assert set(query.fields["channels"].args) == {"queue", "pbx"}
    assert set(subscription.fields["operatorUpdated"].args) == {
        "memberId",
        "queue",
        "initial",
        "pbx",
    }
    assert set(subscription.fields["queueUpdated"].args) == {"name", "initial", "pbx"}
    assert set(subscription.fields["channelUpdated"].args) == {"queue", "initial", "pbx"}
    assert set(subscription.fields["changes"].args) == {"initial", "pbx"}
    assert set(query.fields["pbxes"].args) == set()


def test_every_root_field_but_pbxes_takes_a_pbx() -> None:
    for root in ("Query", "Mutation", "Subscription"):
        root_type = schema._schema.type_map[root]
        assert isinstance(root_type, GraphQLObjectType)
        for name, field in root_type.fields.items():
            if name != "pbxes":
                assert "pbx" in field.args, f"{root}.{name} has no pbx argument"
                assert str(field.args["pbx"].type) == "String", f"{root}.{name}"
