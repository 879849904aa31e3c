"""Console users: a YAML file of name, role, scopes (admin-path prefixes) and an argon2 password hash.

Roles decide what a user may do; scopes decide what it may see: a record is visible when its admin path
(Republic > Region > City > District) starts with one of the user's scopes, compared by slug so "Medeu
District" and "medeu-district" are the same name. A 1-element scope (the Republic) sees everything that has
an admin path; records without one are seen only by admins and the empty scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rules.context.scopes import slug
from schemas import AdminPath

HASHER = PasswordHasher()
# a fixed hash verified when the user is unknown, so a failed login takes as long for a wrong name
_DUMMY_HASH = HASHER.hash("not a password of anyone")


class UsersError(ValueError):
    """A bad users file (its path and what is wrong)."""


class Role(StrEnum):
    OPERATOR = "operator"  # sees and acts in its scopes
    SUPERVISOR = "supervisor"  # same, plus clear phones and the audit log
    ANALYST = "analyst"  # read-only, no phones
    ADMIN = "admin"  # everything, every scope


CAN_ACT = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
CAN_SEE_PHONES = frozenset({Role.SUPERVISOR, Role.ADMIN})
CAN_AUDIT = frozenset({Role.SUPERVISOR, Role.ADMIN})


class User(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
    role: Role
    scopes: list[list[str]] = Field(default_factory=list, description="Admin-path prefixes, e.g. [[Kazakhstan]].")
    password_hash: Annotated[str, Field(min_length=20)]

    @property
    def can_act(self) -> bool:
        return self.role in CAN_ACT

    @property
    def can_see_phones(self) -> bool:
        return self.role in CAN_SEE_PHONES

    @property
    def can_audit(self) -> bool:
        return self.role in CAN_AUDIT

    def public(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": str(self.role),
            "scopes": [list(s) for s in self.scopes],
            "can_see_phones": self.can_see_phones,
        }


class UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[User]


def load_users(path: Path) -> dict[str, User]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        users = UsersFile.model_validate(doc).users
    except (OSError, yaml.YAMLError) as exc:
        raise UsersError(f"{path}: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsersError(f"{path}: {where}: {first['msg']}") from None
    out: dict[str, User] = {}
    for u in users:
        if u.name in out:
            raise UsersError(f"{path}: user {u.name!r} is listed twice")
        out[u.name] = u
    return out


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify(user: User | None, password: str) -> bool:
    """True when the password matches; an unknown user costs the same time as a known one."""
    try:
        return HASHER.verify(user.password_hash if user is not None else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def add_user(path: Path, user: User) -> None:
    """Add (or replace) a user in the file, keeping the others."""
    users = load_users(path) if path.exists() else {}
    users[user.name] = user
    doc = {"users": [u.model_dump(mode="json") for u in users.values()]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def path_slugs(admin: AdminPath | None) -> tuple[str, ...]:
    if admin is None:
        return ()
    out: list[str] = []
    for name in admin.as_tuple():
        if not name:
            break
        out.append(slug(name))
    return tuple(out)


class ScopeFilter:
    """Whether a record with an admin path is visible to a user (admins and [] scopes... see `visible`)."""

    def __init__(self, user: User):
        self.everything = user.role is Role.ADMIN
        self.prefixes: tuple[tuple[str, ...], ...] = tuple(tuple(slug(n) for n in s) for s in user.scopes)

    def visible(self, path: Sequence[str]) -> bool:
        if self.everything:
            return True
        return any(len(p) <= len(path) and tuple(path[: len(p)]) == p for p in self.prefixes if p)
