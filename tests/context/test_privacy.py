"""Pseudonyms: stable format, keyed, phone formatting does not split a caller; redaction of records."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from rules.privacy import (
    DEV_SECRET,
    ENV_SECRET,
    PrivacyError,
    PrivacySettings,
    is_pseudonym,
    pseudonymise,
    pseudonymise_phone,
    redact_call,
    redact_incident,
)
from schemas import CallCategory, EmergencyCall, Incident, IncidentStatus

KEY = b"0123456789abcdef0123456789abcdef"


def test_format_is_h1_and_the_documented_hmac() -> None:
    p = pseudonymise("+77011234567", KEY)
    assert p == "h1:" + hmac.new(KEY, b"+77011234567", hashlib.sha256).digest()[:16].hex()
    assert is_pseudonym(p) and not is_pseudonym("+77011234567") and not is_pseudonym("h1:xyz")


def test_keyed_and_stable() -> None:
    assert pseudonymise("x", KEY) == pseudonymise("x", KEY)
    assert pseudonymise("x", KEY) != pseudonymise("x", KEY[::-1])
    assert pseudonymise("x", KEY) != pseudonymise("y", KEY)
    with pytest.raises(PrivacyError):
        pseudonymise("x", b"")


def test_phone_formatting_does_not_split_history() -> None:
    a = pseudonymise_phone("+7 (701) 123-45-67", KEY)
    assert a == pseudonymise_phone("+77011234567", KEY)
    assert a != pseudonymise_phone("77011234567", KEY)  # a country prefix is meaningful


def test_settings_from_env() -> None:
    assert PrivacySettings.from_env({}).is_development
    assert PrivacySettings.from_env({ENV_SECRET: "hex:" + KEY.hex()}).secret == KEY
    assert PrivacySettings.from_env({ENV_SECRET: "a long enough text secret"}).secret == b"a long enough text secret"
    with pytest.raises(PrivacyError, match="not set"):
        PrivacySettings.from_env({}, require=True)
    with pytest.raises(PrivacyError, match="at least"):
        PrivacySettings.from_env({ENV_SECRET: "short"})
    with pytest.raises(PrivacyError, match="hex"):
        PrivacySettings.from_env({ENV_SECRET: "hex:zz"})
    assert DEV_SECRET not in repr(PrivacySettings()).encode()


def test_redact_incident_and_call() -> None:
    t = datetime(2026, 1, 5, tzinfo=UTC)
    s = PrivacySettings(KEY)
    inc = Incident(
        id="inc-1", version=1, rule_id="calls.repeat_phone", rule_version=1, category="crime",
        status=IncidentStatus.OPEN, priority=2, priority_base=3, title="3 calls from +77011234567",
        summary="caller Aigerim Ospanova", key="+77011234567", group="+77011234567", first_time=t, last_time=t,
        updated_time=t, event_ids=["e1"], event_count=1,
        labels={"phone": "+77011234567", "caller_name": "Aigerim Ospanova", "camera": "cam-1"},
    )  # fmt: skip
    red = redact_incident(inc, s)
    text = red.model_dump_json()
    assert "+77011234567" not in text and "Aigerim" not in text
    assert red.labels["phone"] == s.pseudonymise_phone("+77011234567") == red.key
    assert red.labels["camera"] == "cam-1" and red.title == "3 calls from " + red.key
    call = EmergencyCall(call_id="c", phone="+77011234567", caller_name="Aigerim", category=CallCategory.FIRE)
    rc = redact_call(call, s)
    assert rc.phone == s.pseudonymise_phone("+77011234567") and rc.caller_name == s.pseudonymise("Aigerim")


def test_redact_raw_event_for_dead_letters() -> None:
    from rules.privacy import redact_raw_event

    s = PrivacySettings(KEY)
    raw = b'{"id":"c1","type":"call.112","data":{"phone":"+77011234567","caller_name":"Aigerim","category":"bad"}}'
    red = redact_raw_event(raw, s)
    assert b"+77011234567" not in red and b"Aigerim" not in red
    assert s.pseudonymise_phone("+77011234567").encode() in red
    assert redact_raw_event(red, s) == red  # already pseudonymised: unchanged
    assert redact_raw_event(b"not json", s) == b"not json"


def test_scrub_phones_in_free_text() -> None:
    from rules.privacy import scrub_phones

    s = PrivacySettings(KEY)
    text = "Caller +7 (701) 123-45-67 again; at 2026-01-05, house 12, plate 777ABA02, id inc-123456789abc"
    out = scrub_phones(text, s)
    assert "+7 (701) 123-45-67" not in out and s.pseudonymise_phone("+77011234567") in out
    assert "2026-01-05" in out and "777ABA02" in out and "inc-123456789abc" in out and "house 12" in out
    assert scrub_phones(out, s) == out  # pseudonyms are left alone
