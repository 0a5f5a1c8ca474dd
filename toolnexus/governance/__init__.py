"""Layer 2: governance — the gate every call passes (policies and approvals build on it)."""

from toolnexus.core.decision import ALLOW, Decision, Verdict
from toolnexus.governance.decide import Governance
from toolnexus.governance.floor import RuntimeFloor
from toolnexus.governance.gate import AllowAll, Gate
from toolnexus.governance.plan import CallPlan
from toolnexus.governance.surface import authorizing, current_authorizer

__all__ = ["ALLOW", "AllowAll", "CallPlan", "Decision", "Gate", "Governance", "RuntimeFloor", "Verdict",
           "authorizing", "current_authorizer"]
