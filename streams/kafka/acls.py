"""The ACL spec (infra/kafka/acls.yaml: per service principal, the topics, groups and transactional ids it may use)
and its idempotent application to a cluster with an authorizer (Kafka ignores an ACL that exists already)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from infra import resource
from streams.kafka.settings import KafkaSettings

ACL_SPEC = resource("kafka", "acls.yaml")
RESOURCES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactional_id": ResourceType.TRANSACTIONAL_ID,
}
PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}
OPERATIONS = {op.name.lower(): op for op in AclOperation if op not in (AclOperation.UNKNOWN, AclOperation.ANY)}


class AclError(ValueError):
    pass


@dataclass(frozen=True)
class AclRule:
    """One allowed operation of a principal on a resource name (or every name with that prefix)."""

    service: str
    principal: str
    resource: str
    pattern: str
    name: str
    operation: str


def _choice(value: object, allowed: Mapping[str, object], what: str, where: str) -> str:
    text = str(value).lower()
    if text not in allowed:
        raise AclError(f"{where}: {what} {value!r} is not one of {', '.join(sorted(allowed))}")
    return text


def _rules(service: str, entry: dict[str, Any]) -> list[AclRule]:
    principal = str(entry.get("principal") or "")
    if not principal.startswith("User:"):
        raise AclError(f"{service}: principal {principal!r} must be User:NAME")
    out = []
    for i, allow in enumerate(entry.get("allow") or []):
        where = f"{service}.allow[{i}]"
        resource = _choice(allow.get("resource"), RESOURCES, "resource", where)
        pattern = _choice(allow.get("pattern", "literal"), PATTERNS, "pattern", where)
        name = str(allow.get("name") or "")
        if not name:
            raise AclError(f"{where}: no name")
        for op in allow.get("operations") or []:
            out.append(
                AclRule(service, principal, resource, pattern, name, _choice(op, OPERATIONS, "operation", where))
            )
    return out


def load_acls(path: Path = ACL_SPEC) -> list[AclRule]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    principals = doc.get("principals")
    if not isinstance(principals, dict) or not principals:
        raise AclError(f"{path}: no principals")
    return [rule for service, entry in principals.items() for rule in _rules(service, entry or {})]


def binding(settings: KafkaSettings, rule: AclRule) -> AclBinding:
    """The rule as an ALLOW binding from any host; topic names take the deployment's topic prefix."""
    name = settings.topic(rule.name) if rule.resource == "topic" else rule.name
    return AclBinding(
        RESOURCES[rule.resource],
        name,
        PATTERNS[rule.pattern],
        rule.principal,
        "*",
        OPERATIONS[rule.operation],
        AclPermissionType.ALLOW,
    )


def apply_acls(settings: KafkaSettings, rules: list[AclRule], timeout: float = 30.0) -> int:
    """Create every binding (existing ones are left as they are); the number of bindings. Needs a principal that
    may alter the cluster's ACLs (a super user)."""
    admin = AdminClient(settings.admin_config())
    bindings = [binding(settings, rule) for rule in rules]
    for acl, fut in admin.create_acls(bindings, request_timeout=timeout).items():
        try:
            fut.result()
        except KafkaException as exc:
            raise AclError(f"the cluster refused the ACL {acl}: {exc.args[0].str()}") from None
    return len(bindings)
