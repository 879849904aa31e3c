"""Dead letters keep rejected input whole except for personal data, which is pseudonymised like everywhere else."""

from __future__ import annotations

import orjson

from rules.privacy import PrivacySettings
from schemas import RejectStage, SourcePosition
from streams.dlq import dead_letter

CALL = {
    "id": "c-9",
    "type": "call.999",
    "source": "cad",
    "time": "2026-03-10T08:00:00Z",
    "data": {"call_id": "c-9", "phone": "+7 701 111 00 01", "caller_name": "Aigerim S.", "address": "Abai 1"},
}


def test_a_rejected_call_keeps_everything_but_the_clear_phone_and_name() -> None:
    letter = dead_letter(orjson.dumps(CALL), RejectStage.UNKNOWN_TYPE, "unknown type", SourcePosition(file="f"))
    doc = orjson.loads(letter.original_bytes())
    settings = PrivacySettings.from_env()
    assert doc["data"]["phone"] == settings.pseudonymise_phone("+7 701 111 00 01")
    assert doc["data"]["caller_name"] == settings.pseudonymise("Aigerim S.")
    assert "701 111" not in letter.original and "Aigerim" not in letter.original
    assert {k: v for k, v in doc["data"].items() if k not in ("phone", "caller_name")} == {
        "call_id": "c-9",
        "address": "Abai 1",
    }
    assert doc["id"] == "c-9" and doc["time"] == CALL["time"]


def test_phones_in_a_line_that_is_not_json_are_pseudonymised() -> None:
    raw = b"caller +77011110001 says fire at Abai 52, 2026-03-10"
    letter = dead_letter(raw, RejectStage.DECODE, "not JSON", SourcePosition(file="f"))
    assert "77011110001" not in letter.original and "Abai 52, 2026-03-10" in letter.original


def test_lines_without_personal_data_are_kept_byte_for_byte() -> None:
    raw = b'{"id": "v-1", "type": "video.detection", "time": 1795452602356}'
    assert dead_letter(raw, RejectStage.VALIDATE, "x", SourcePosition(file="f")).original_bytes() == raw
    assert dead_letter(b"\xff\xfe", RejectStage.DECODE, "x", SourcePosition(file="f")).original_bytes() == b"\xff\xfe"
