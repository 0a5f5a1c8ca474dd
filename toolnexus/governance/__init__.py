"""Layer 2: governance — the gate every call passes (policies and approvals build on it)."""

from toolnexus.governance.gate import ALLOW, AllowAll, Decision, Gate

__all__ = ["ALLOW", "AllowAll", "Decision", "Gate"]
