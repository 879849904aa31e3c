"""Pseudonymisation of personal data (phone numbers, caller names).

Personal data leaves the engine in clear text only on the incident shown to the dispatcher who needs it.
Everywhere else (logs, archive, alerts, dead letters) it is replaced by a keyed hash so that history still
matches by phone without the phone itself being stored.

Output format (stable, part of the contract, the archive stores it):

    "h1:" + lowercase hex of the first 16 bytes (128 bits) of HMAC-SHA256(secret, normalised value)

Normalisation is done by the caller's field kind: `pseudonymise_phone` keeps only digits and a leading "+"
so "+7 (701) 123-45-67" and "+77011234567" give the same pseudonym; `pseudonymise` hashes the value as given
(after Unicode NFC and strip). "h1" is the scheme version: a change of hash, truncation or normalisation
gets a new prefix so old and new pseudonyms are never confused.

The secret comes from settings (`PrivacySettings.from_env`: SAQSHY_PSEUDONYM_SECRET or the settings file's
[privacy] pseudonym_secret, hex or raw text), never from code. Pure module: no clock, no I/O except reading the
settings in `from_env`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from schemas import EmergencyCall, Incident
from schemas.settings import ServiceSettings, SettingsError

PREFIX = "h1:"
DIGEST_BYTES = 16
ENV_SECRET = "SAQSHY_PSEUDONYM_SECRET"
MIN_SECRET_BYTES = 16
# A fixed development secret so tests and the embedded demo work without configuration; a deployment
# sets SAQSHY_PSEUDONYM_SECRET (from_env(require=True) refuses to start without it).
DEV_SECRET = b"saqshy-development-secret-not-for-production"


class PrivacyError(ValueError):
    """A pseudonymisation setting is missing or too weak."""


def _normalise(value: str) -> bytes:
    return unicodedata.normalize("NFC", value).strip().encode("utf-8")


def pseudonymise(value: str, secret: bytes) -> str:
    """Keyed, deterministic pseudonym of `value`: "h1:" + 32 lowercase hex characters."""
    if not secret:
        raise PrivacyError("pseudonymisation secret is empty")
    digest = hmac.new(secret, _normalise(value), hashlib.sha256).digest()
    return PREFIX + digest[:DIGEST_BYTES].hex()


def normalise_phone(phone: str) -> str:
    """Digits only, with a leading "+" kept: formatting differences must not split a caller's history."""
    s = phone.strip()
    digits = "".join(ch for ch in s if ch.isdigit())
    return ("+" + digits) if s.startswith("+") else digits


def pseudonymise_phone(phone: str, secret: bytes) -> str:
    return pseudonymise(normalise_phone(phone), secret)


def is_pseudonym(value: str) -> bool:
    if not value.startswith(PREFIX) or len(value) != len(PREFIX) + 2 * DIGEST_BYTES:
        return False
    return all(c in "0123456789abcdef" for c in value[len(PREFIX) :])


def _parse_secret(raw: str) -> bytes:
    """ "hex:..." is decoded as hex, anything else is taken as UTF-8 text."""
    if raw.startswith("hex:"):
        try:
            return bytes.fromhex(raw[4:])
        except ValueError as e:
            raise PrivacyError(f"{ENV_SECRET}: invalid hex ({e})") from None
    return raw.encode("utf-8")


class PseudonymSettings(ServiceSettings):
    """Where the pseudonymisation secret comes from (schemas.settings): SAQSHY_PSEUDONYM_SECRET, or the settings
    file's [privacy] pseudonym_secret. PrivacySettings.from_env turns it into the secret's bytes."""

    file_section: ClassVar[tuple[str, ...]] = ("privacy",)
    env_aliases: ClassVar[dict[str, str]] = {"pseudonym_secret": ENV_SECRET}
    title: ClassVar[str] = "privacy settings"

    pseudonym_secret: SecretStr | None = Field(
        None,
        description="Key of the pseudonyms of personal data: hex:<hex> or text, at least 16 bytes [default: a "
        "development secret, refused where a deployment requires one].",
    )


@dataclass(frozen=True)
class PrivacySettings:
    """The pseudonymisation secret of a deployment (settings hook for every runtime and the archive)."""

    secret: bytes = field(default=DEV_SECRET, repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise PrivacyError(f"pseudonymisation secret must be at least {MIN_SECRET_BYTES} bytes")

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, require: bool = False, config: str | Path | None = None
    ) -> PrivacySettings:
        """The secret of SAQSHY_PSEUDONYM_SECRET, else of the settings file's [privacy] pseudonym_secret."""
        try:
            secret = PseudonymSettings.from_env(env, config=config).pseudonym_secret
        except SettingsError as exc:
            raise PrivacyError(str(exc)) from None
        raw = secret.get_secret_value() if secret is not None else None
        if raw is None or raw == "":
            if require:
                raise PrivacyError(f"{ENV_SECRET} is not set")
            return cls()
        return cls(_parse_secret(raw))

    @property
    def is_development(self) -> bool:
        return self.secret == DEV_SECRET

    def pseudonymise(self, value: str) -> str:
        return pseudonymise(value, self.secret)

    def pseudonymise_phone(self, phone: str) -> str:
        return pseudonymise_phone(phone, self.secret)


# --- records -------------------------------------------------------------------------------------
# Incident labels that hold personal data by name; their values are also replaced wherever they appear in
# the incident's key, group, title and summary (a rule keyed by phone puts it there).
PERSONAL_LABELS = frozenset({"phone", "caller", "caller_name", "caller_phone", "name"})


# Not inside a word (a pseudonym's hex, a plate, an id): no letter, digit or ":" right before or after.
_PHONE_LIKE = re.compile(r"(?<![\w:+])\+?\d[\d\s()\-]{7,20}\d(?![\w])")
MIN_PHONE_DIGITS = 9  # fewer digits is a date, a count or a house number, not a phone


def scrub_phones(text: str, settings: PrivacySettings) -> str:
    """Phone-like digit runs (9+ digits, with spaces, dashes, brackets) replaced by their pseudonyms: a
    rule's free text may quote a caller's number without a `phone` label saying so."""

    def replace(m: re.Match[str]) -> str:
        raw = m.group(0)
        return settings.pseudonymise_phone(raw) if sum(c.isdigit() for c in raw) >= MIN_PHONE_DIGITS else raw

    return _PHONE_LIKE.sub(replace, text)


def redact_incident(incident: Incident, settings: PrivacySettings) -> Incident:
    """The incident as it may be archived, logged or published: personal values replaced by pseudonyms,
    phone-like numbers in its free text too."""
    personal = {
        value: (settings.pseudonymise_phone(value) if "phone" in name else settings.pseudonymise(value))
        for name, value in incident.labels.items()
        if name in PERSONAL_LABELS and value
    }

    def scrub(text: str) -> str:
        for value in sorted(personal, key=len, reverse=True):
            text = text.replace(value, personal[value])
        return scrub_phones(text, settings)

    return incident.model_copy(
        update={
            "labels": {k: personal.get(v, v) if k in PERSONAL_LABELS else scrub(v) for k, v in incident.labels.items()},
            "key": scrub(incident.key),
            "group": scrub(incident.group),
            "title": scrub(incident.title),
            "summary": scrub(incident.summary),
        }
    )


def redact_call(call: EmergencyCall, settings: PrivacySettings) -> EmergencyCall:
    """A 112 call with its phone and caller name pseudonymised (for the event archive and dead letters)."""
    return call.model_copy(
        update={
            "phone": settings.pseudonymise_phone(call.phone) if call.phone else None,
            "caller_name": settings.pseudonymise(call.caller_name) if call.caller_name else None,
        }
    )


def redact_raw_event(raw: bytes, settings: PrivacySettings) -> bytes:
    """A raw input line with a 112 call's phone and caller name pseudonymised, for dead letters and logs.

    Lines that are not a JSON object are returned unchanged: they cannot be parsed, so nothing in them
    can be found to replace (the dead-letter stage says why they were rejected)."""
    import orjson

    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        return raw
    changed = False
    for name in ("phone", "caller_name"):
        value = data.get(name)
        if isinstance(value, str) and value and not is_pseudonym(value):
            data[name] = settings.pseudonymise_phone(value) if name == "phone" else settings.pseudonymise(value)
            changed = True
    return orjson.dumps(doc) if changed else raw
