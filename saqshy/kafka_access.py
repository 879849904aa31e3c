"""Fail fast on a secured cluster's refusals: a wrong SASL password or a broker certificate the client does not
trust never heals by retrying, yet librdkafka retries both for ever (a worker would wait, a producer would fill its
queue), so every Kafka command checks them once before it starts (one metadata request).

The message names the setting to fix and never the password: librdkafka's reasons do not carry it, and the
settings' representation masks it.
"""

from __future__ import annotations

import logging
import re
import time

from confluent_kafka import KafkaError, KafkaException, Producer

from schemas.settings import KafkaClientSettings

log = logging.getLogger(__name__)
# Codes no retry can cure: the broker refused the login, or the TLS handshake failed (certificate not trusted,
# wrong host name, no common protocol).
REFUSALS = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})
_AFTER = re.compile(r"\s*\(after \d+ms in state \w+\)\s*$")


class KafkaAccessError(Exception):
    """The cluster refused this client's credentials or TLS: one line, the setting to check, no secret."""


def _reason(err: KafkaError) -> str:
    """librdkafka's text without its broker prefix and retry timing: 'SSL handshake failed: ...'."""
    text = _AFTER.sub("", err.str())
    return text.split(": ", 1)[1] if text.startswith(("sasl_ssl://", "ssl://", "sasl_plaintext://")) else text


def refusal_message(settings: KafkaClientSettings, err: KafkaError) -> str:
    env = type(settings).env_name
    where = settings.bootstrap_servers
    if err.code() == KafkaError._AUTHENTICATION:
        return (
            f"Kafka at {where} refused the {settings.sasl_mechanism} login of user {settings.sasl_username!r}: "
            f"check {env('sasl_username')} and {env('sasl_password')} ({_reason(err)})"
        )
    return (
        f"TLS with Kafka at {where} failed: {_reason(err)}; {env('ssl_cafile')} must name the CA that signed "
        f"the brokers' certificates (now {settings.ssl_cafile or 'the system CAs'})"
    )


def check_access(settings: KafkaClientSettings, timeout: float = 20.0) -> None:
    """Raise KafkaAccessError when the cluster refuses this client's login or TLS; return once it answers a
    metadata request, or after `timeout` when no broker answers at all (the caller's own retries handle an
    unreachable cluster, as they do on PLAINTEXT, where there is nothing to check)."""
    if settings.security_protocol == "PLAINTEXT":
        return
    refused: list[KafkaError] = []
    conf = {**settings.common_config(), "error_cb": refused.append}
    try:
        probe = Producer(conf)
    except KafkaException as exc:  # e.g. an unreadable CA file: librdkafka checks it when the client is made
        raise KafkaAccessError(f"cannot set up a Kafka client for {settings.bootstrap_servers}: {exc}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe.poll(0.1)  # serves error_cb
        fatal = next((e for e in refused if e.code() in REFUSALS), None)
        if fatal is not None:
            raise KafkaAccessError(refusal_message(settings, fatal))
        try:
            probe.list_topics(timeout=0.5)
            return
        except KafkaException:
            continue  # not connected yet, or refused: the next poll says which
    log.warning("no Kafka broker at %s answered within %.0f s; going on", settings.bootstrap_servers, timeout)
