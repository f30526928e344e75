"""PII redaction (issue 13, "PII never leaves the process"): each kind in structured fields and
in free text, Luhn-invalid numbers kept, the same value one placeholder, placeholders restored,
and amounts, dates and ids left alone. Pure: no database."""

from __future__ import annotations

import re

import pytest

from riskops.server.assistant.redaction import PLACEHOLDER, Redactor, known_in

NAME = "Maria Schmidt"
EMAIL = "maria.schmidt@example.com"
PHONE = "+49 30 12345678"
IBAN_SPACED = "DE89 3704 0044 0532 0130 00"
IBAN = "GB82WEST12345698765432"
CARD = "4111 1111 1111 1111"  # Luhn-valid (the test Visa)
CARD_BAD = "4111 1111 1111 1112"  # Luhn-invalid
CUSTOMER = "CUST-000123"
ACCOUNT = "ACC-000123-1"

KNOWN = {CUSTOMER: "CUSTOMER", ACCOUNT: "ACCOUNT", NAME: "NAME"}


def _kinds(text: str) -> list[str]:
    return [p[1:].split("_")[0] for p in PLACEHOLDER.findall(text)]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (EMAIL, "EMAIL"),
        (PHONE, "PHONE"),
        ("0044 20 7946 0958", "PHONE"),
        ("(415) 555-0132", "PHONE"),
        ("030 1234567", "PHONE"),
        (IBAN_SPACED, "IBAN"),
        (IBAN, "IBAN"),
        (CARD, "CARD"),
        ("4111-1111-1111-1111", "CARD"),
        ("4111111111111111", "CARD"),
        ("3782 822463 10005", "CARD"),  # Amex grouping, Luhn-valid
    ],
)
def test_each_kind_in_free_text(value, kind):
    r = Redactor()
    note = f"Spoke to the customer: {value}, she confirmed it."

    out = r.redact(note)

    assert value not in out
    if kind != "EMAIL":
        assert re.sub(r"\D", "", value) not in re.sub(r"\D", "", out.replace("_1", ""))
    assert _kinds(out) == [kind]
    assert out.startswith("Spoke to the customer: <") and out.endswith(">, she confirmed it.")
    assert r.restore(out) == note


def test_known_values_in_structured_fields_and_free_text():
    r = Redactor(KNOWN)

    fields = r.redact_value(
        {"customer_ref": CUSTOMER, "account_ref": ACCOUNT, "holder": NAME, "amount": "1250.00"}
    )
    note = r.redact(
        f"{NAME} called; maria schmidt again later. Ms Schmidt owns {ACCOUNT.lower()} "
        f"(customer {CUSTOMER})."
    )

    assert fields == {
        "customer_ref": "<CUSTOMER_1>",
        "account_ref": "<ACCOUNT_1>",
        "holder": "<NAME_1>",
        "amount": "1250.00",
    }
    # case-insensitive, the same placeholder; a word of the name alone gets its own
    assert note == (
        "<NAME_1> called; <NAME_1> again later. Ms <NAME_2> owns <ACCOUNT_1> (customer "
        "<CUSTOMER_1>)."
    )
    assert r.placeholders["<NAME_2>"] == "Schmidt"


def test_a_short_known_value_is_redacted_whole_but_not_inside_text():
    r = Redactor({"A1": "ACCOUNT"})

    assert r.redact("A1") == "<ACCOUNT_1>"
    assert r.redact("grade A1 paper, a1 sauce") == "grade A1 paper, a1 sauce"


def test_a_known_number_is_found_with_other_separators():
    r = Redactor({"12345678901": "ACCOUNT"})

    out = r.redact("Account 1234-5678-901 and 123 456 789 01 and 12345678901.")

    assert out == "Account <ACCOUNT_1> and <ACCOUNT_1> and <ACCOUNT_1>."


def test_account_numbers_after_the_word_account():
    r = Redactor()

    out = r.redact("Paid from account no. 12345678 and acct #DE-99887766; accounting 2024 ok.")

    assert out == "Paid from account no. <ACCOUNT_1> and acct #<ACCOUNT_2>; accounting 2024 ok."


def test_titled_names():
    r = Redactor()

    assert r.redact("Mr. John Doe and Frau Weber called.") == (
        "Mr. <NAME_1> and Frau <NAME_2> called."
    )


def test_luhn_invalid_numbers_stay():
    r = Redactor()
    text = f"Card {CARD_BAD} was declined; ref 1234567890123."

    assert r.redact(text) == text


def test_the_same_value_twice_is_one_placeholder():
    r = Redactor()

    out = r.redact(f"{EMAIL} wrote from {EMAIL.upper()}; card {CARD} = 4111111111111111.")
    second = r.redact(f"again {EMAIL}")

    assert out == "<EMAIL_1> wrote from <EMAIL_1>; card <CARD_1> = <CARD_1>."
    assert second == "again <EMAIL_1>"
    assert r.placeholders == {"<EMAIL_1>": EMAIL, "<CARD_1>": CARD}


def test_amounts_dates_ids_and_scores_are_not_eaten():
    r = Redactor(KNOWN)
    text = (
        "Amount 1,250.00 EUR (9,999,999.99 USD max) on 2026-11-20 10:15 UTC, alert 123456, "
        "score 87.5, txn-42-7, external id demo-42-17, CASE-000004, run DEMO-SEV1-0001, "
        "RUN-20261120000123, rule VEL-001 (+30.0), signal velocity_1h 14, MCC 5732, "
        "order 2026112012345678, device dev-0001e240, 3.4x the baseline of 1,200.00 credits."
    )

    assert r.redact(text) == text


def test_restore_round_trip_and_unknown_placeholders_name_nothing():
    r = Redactor(KNOWN)
    text = f"{NAME} ({EMAIL}, {PHONE}) paid {IBAN} with {CARD} from {ACCOUNT} as {CUSTOMER}."

    out = r.redact(text)
    for value in (NAME, EMAIL, PHONE, IBAN, CARD, ACCOUNT, CUSTOMER):
        assert value not in out
    assert sorted(_kinds(out)) == sorted(
        ["NAME", "EMAIL", "PHONE", "IBAN", "CARD", "ACCOUNT", "CUSTOMER"]
    )
    assert r.restore(out) == text
    assert r.restore("<NAME_1> and <NAME_9>") == f"{NAME} and (hidden value)"


def test_redact_value_walks_json_and_numbers():
    r = Redactor(KNOWN)

    out = r.redact_value(
        {
            "matched": {"card_number": 4111111111111111, "velocity": 14, "ratio": 0.5},
            "emails": [EMAIL, "ops"],
            "nested": [{"name": NAME}],
            "flag": True,
            "none": None,
        }
    )

    assert out == {
        "matched": {"card_number": "<CARD_1>", "velocity": 14, "ratio": 0.5},
        "emails": ["<EMAIL_1>", "ops"],
        "nested": [{"name": "<NAME_1>"}],
        "flag": True,
        "none": None,
    }


def test_kinds_are_spelled_as_placeholders_allow():
    r = Redactor({"Jane Roe": "customer_name"})

    assert r.redact("Jane Roe") == "<CUSTOMERNAME_1>"
    assert PLACEHOLDER.fullmatch(r.redact("Jane Roe"))


def test_which_fields_of_structured_data_name_a_person():
    data = {
        "customer_name": "Jane Roe",
        "customer": {"id": "C-991", "segment": "retail"},
        "card": {"number": "5555 5555 5555 4444", "brand": "MC", "bin": "555555"},
        "cardholder": "J Roe",
        "payee_iban": "GB82 WEST 1234 5698 7654 32",
        "beneficiary": {"name": "John Poe", "country": "GB", "account": "00123456"},
        "contact": {"e_mail": "j@x.io", "mobile": "+33 6 12 34 56 78"},
        "merchant": {"name": "Northwind", "id": "m-1"},
        "merchant_name": "Lumen Travel",
        "card_type": "credit",
        "name_match_score": 0.93,
        "device_id": "dev-1",
        "flags": [{"payer": "Ann Example"}],
        "new_payee": True,
    }

    found = known_in(data, {})

    assert found == {
        "Jane Roe": "NAME",
        "C-991": "CUSTOMER",
        "5555 5555 5555 4444": "CARD",
        "J Roe": "NAME",
        "GB82 WEST 1234 5698 7654 32": "IBAN",
        "John Poe": "NAME",
        "00123456": "ACCOUNT",
        "j@x.io": "EMAIL",
        "+33 6 12 34 56 78": "PHONE",
        "Ann Example": "NAME",
    }


def test_phones_are_found_in_json_and_next_to_other_numbers():
    r = Redactor()
    text = '{"phone":"+33 6 12 34 56 78","amount":"1,250.00 EUR","at":"2026-11-20 10:15 UTC"}'

    out = r.redact(text)

    assert out == '{"phone":"<PHONE_1>","amount":"1,250.00 EUR","at":"2026-11-20 10:15 UTC"}'
    assert r.redact("ring 030 1234567 or +49 30 1234567, ref 12345678") == (
        "ring <PHONE_2> or <PHONE_2>, ref 12345678"
    )
