"""Public alerts: policies that decide when an incident warrants a public warning, and CAP 1.2 output."""

from rules.alerts.cap import CAP_NS, to_cap_xml
from rules.alerts.policy import AlertError, AlertPolicy, WarningDevice, load_alert_policy, load_warning_devices

__all__ = [
    "CAP_NS",
    "AlertError",
    "AlertPolicy",
    "WarningDevice",
    "load_alert_policy",
    "load_warning_devices",
    "to_cap_xml",
]
