"""The contract gate on the real protos and on scratch copies with one change each: breaks refused, additions pass."""

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tessera.tools import contracts

PROTOS = Path("src/protos")
EVENTS = "orders/v1/events.proto"


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    copy = tmp_path / "protos"
    shutil.copytree(PROTOS, copy)
    return copy


def edit(protos: Path, old: str, new: str) -> None:
    path = protos / EVENTS
    text = path.read_text()
    assert old in text, f"{EVENTS} no longer holds {old!r}: the test must follow the proto"
    path.write_text(text.replace(old, new, 1))


def test_the_contracts_pass_lint_and_keep_what_was_released() -> None:
    assert contracts.lint(PROTOS) == []
    assert contracts.breaking(PROTOS, against=contracts.BASELINE_NAME) == []


BREAKS: dict[str, tuple[Callable[[Path], None], set[str]]] = {
    "a field removed without reserving its number": (
        lambda protos: edit(protos, "  string reason = 2;\n}\n\nmessage OrderCancelled", "}\n\nmessage OrderCancelled"),
        {"FIELD_NO_DELETE"},
    ),
    "a field's type changed": (
        lambda protos: edit(protos, "int64 total_cents = 4;", "string total_cents = 4;"),
        {"FIELD_SAME_TYPE"},
    ),
    "a field number reused by another field": (
        lambda protos: edit(protos, "string currency = 5;", "int64 discount_cents = 5;"),
        {"FIELD_SAME_NAME", "FIELD_SAME_TYPE"},
    ),
    "a reserved number taken back": (
        lambda protos: edit(protos, '  reserved 6;\n  reserved "card_token";\n', "  string card_token = 6;\n"),
        {"FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED", "RESERVED_ENUM_NO_DELETE", "RESERVED_MESSAGE_NO_DELETE"},
    ),
}


@pytest.mark.parametrize("change", BREAKS)
def test_a_breaking_change_to_an_event_is_refused_with_the_rule_it_breaks(scratch: Path, change: str) -> None:
    apply, rules = BREAKS[change]
    apply(scratch)

    findings = contracts.breaking(scratch, against=contracts.BASELINE_NAME)

    assert findings, f"the gate let through {change}"
    assert {finding.rule for finding in findings} & rules, findings
    assert all(finding.path == EVENTS for finding in findings)
    assert contracts.check(scratch, against=[]) == 1


def test_a_new_field_and_a_new_message_pass(scratch: Path) -> None:
    edit(scratch, "string payment_method_id = 7;", "string payment_method_id = 7;\n  string coupon_code = 8;")
    events = scratch / EVENTS
    events.write_text(events.read_text() + "\nmessage OrderNoted {\n  string order_id = 1;\n}\n")

    assert contracts.breaking(scratch, against=contracts.BASELINE_NAME) == []
    assert contracts.check(scratch, against=[]) == 0


def test_the_baseline_moves_on_only_compatibly_unless_a_retirement_is_said(scratch: Path) -> None:
    edit(scratch, "int64 total_cents = 4;", "string total_cents = 4;")

    with pytest.raises(contracts.ContractError, match="FIELD_SAME_TYPE"):
        contracts.update_baseline(scratch)
    assert contracts.breaking(scratch, against=contracts.BASELINE_NAME), "a refused update left the baseline changed"

    retired = contracts.update_baseline(scratch, accept_breaking="orders.v1 retired")
    assert {finding.rule for finding in retired} >= {"FIELD_SAME_TYPE"}
    assert contracts.breaking(scratch, against=contracts.BASELINE_NAME) == []


def test_lint_names_a_badly_named_field(scratch: Path) -> None:
    edit(scratch, "string payment_method_id = 7;", "string paymentMethodId = 7;")

    assert {finding.rule for finding in contracts.lint(scratch)} >= {"FIELD_LOWER_SNAKE_CASE"}


def test_a_proto_that_does_not_compile_is_an_error_not_a_pass(scratch: Path) -> None:
    edit(scratch, "int64 total_cents = 4;", "int64 total_cents = ;")

    with pytest.raises(contracts.ContractError):
        contracts.breaking(scratch, against=contracts.BASELINE_NAME)
