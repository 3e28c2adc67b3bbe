"""Each vocabulary is spelled out once, in ``bot/vocab.py``; everything else follows it."""

from __future__ import annotations

import ast
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from bot import vocab
from bot.merchants.accounts import validate_scopes
from bot.merchants.cli import merchants_cli
from storage.models.credential import Credential

ROOT = Path(__file__).resolve().parents[2]
VOCABULARIES: list[type[StrEnum]] = [
    vocab.Level,
    vocab.Scope,
    vocab.MerchantCategory,
    vocab.CredentialStatus,
    vocab.CredentialReason,
    vocab.VerifyResult,
    vocab.VerifyReason,
    vocab.Factor,
    vocab.Capability,
    vocab.TerminalSessionStatus,
]


def _sources() -> list[Path]:
    files = [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py"), *ROOT.glob("storage/*.py")]
    files += ROOT.glob("storage/models/*.py")
    return [path for path in files if path.name != "vocab.py" and "emulator" not in path.parts]


def _spelled_collections(tree: ast.AST) -> list[tuple[int, set[str]]]:
    """String members of every tuple/list/set literal and every ``Literal[...]``."""
    found = []
    for node in ast.walk(tree):
        elements: list[ast.expr] = []
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            elements = list(node.elts)
        elif isinstance(node, ast.Subscript) and getattr(node.value, "id", "") == "Literal":
            inner = node.slice
            elements = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
        strings = {
            e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)
        }
        if strings:
            found.append((getattr(node, "lineno", 0), strings))
    return found


def test_no_module_spells_out_a_vocabulary_again() -> None:
    offenders = []
    for path in _sources():
        for line, strings in _spelled_collections(ast.parse(path.read_text(), str(path))):
            for enum in VOCABULARIES:
                values = {member.value for member in enum}
                if len(strings & values) >= 2:
                    offenders.append(f"{path.relative_to(ROOT)}:{line} {enum.__name__}")
    assert offenders == []


def _check_values(sql: str, column: str) -> set[str]:
    match = re.search(rf"{column} IN \(([^)]*)\)", sql)
    assert match, (column, sql)
    return set(re.findall(r"'([a-z_]+)'", match.group(1)))


def test_database_constraints_hold_the_same_values() -> None:
    constraints = {
        str(getattr(c, "sqltext", ""))
        for c in Credential.__table__.constraints  # type: ignore[attr-defined]
    }
    level_sql = next(sql for sql in constraints if sql.startswith("level IN"))
    status_sql = next(sql for sql in constraints if sql.startswith("status IN"))
    assert _check_values(level_sql, "level") == set(vocab.Level)
    assert _check_values(status_sql, "status") == set(vocab.CredentialStatus)
    migration = (ROOT / "storage/migrations/versions/0002_domain_tables.py").read_text()
    assert _check_values(migration, "level") == set(vocab.Level)


def test_every_scope_and_category_is_accepted_and_nothing_else() -> None:
    for category in vocab.MerchantCategory:
        allowed = [s for s in vocab.Scope if s != vocab.Scope.FULL_IDENTITY]
        if category in vocab.REGISTRATION_CATEGORIES:
            allowed = list(vocab.Scope)
        assert validate_scopes(category.value, [s.value for s in allowed]) == tuple(allowed)
    result = CliRunner().invoke(merchants_cli, ["create", "X", "--category", "casino"])
    assert result.exit_code != 0
    for category in vocab.MerchantCategory:
        assert category.value in result.output


def test_enums_serialise_as_their_plain_values() -> None:
    import json

    body: dict[str, Any] = {"level": vocab.Level.UPGRADED, "scopes": [vocab.Scope.AGE_OVER_18]}
    assert json.dumps(body) == '{"level": "upgraded", "scopes": ["age_over_18"]}'


def test_the_openapi_document_lists_each_vocabulary_from_its_enum(client: Any) -> None:
    spec = client.get("/openapi.json").json
    enums = {
        name.rsplit(".", 1)[-1]: schema["enum"]
        for name, schema in spec["components"]["schemas"].items()
        if "enum" in schema
    }
    assert enums["Scope"] == [member.value for member in vocab.Scope]
    assert enums["MerchantCategory"] == [member.value for member in vocab.MerchantCategory]
    assert enums["Level"] == [member.value for member in vocab.Level]


def test_the_verifying_guide_lists_every_verify_reason() -> None:
    guide = (ROOT / "docs/verifying.md").read_text()
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", guide, flags=re.M))
    assert listed == set(vocab.VerifyReason)
