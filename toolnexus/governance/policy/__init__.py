"""Policies: ordered rules in ``policies/*.yaml`` that allow, deny or send a call for approval, each in its
own mode (observe, warn, enforce), compiled once into an indexed matcher the :class:`PolicyGate` asks.

One concept per module: ``model`` (the file's schema), ``conditions`` (the argument-condition grammar),
``rule`` (a compiled rule and the facts of a call), ``index`` (candidate rules by tool name), ``combine``
(deny wins, among enforced rules), ``policy`` (the compiled policy), ``loader`` (files to a policy, with
positions), ``schema_check`` (conditions against the tools' input schemas), ``gate`` (the Gate),
``missions`` (a run's mission, from the store), ``replay`` (a policy over recorded calls), ``recorded``
(the calls the state store recorded), ``observed`` (what unenforced rules would have done) and ``cases``
(``policy test`` files); ``cedar``, ``cedar_set``, ``cedar_rule``, ``cedar_request`` and ``cedar_source``
(``.cedar`` policy sets, evaluated by cedarpy).
"""

from toolnexus.governance.policy.combine import DECIDER, combine
from toolnexus.governance.policy.gate import Approvals, PolicyGate
from toolnexus.governance.policy.loader import compile_policy, load_policy, policy_files
from toolnexus.governance.policy.missions import missions_in
from toolnexus.governance.policy.model import Effect, Mode
from toolnexus.governance.policy.policy import EMPTY, Policy, Verdicts
from toolnexus.governance.policy.rule import Facts, Rule

__all__ = [
    "DECIDER",
    "EMPTY",
    "Approvals",
    "Effect",
    "Facts",
    "Mode",
    "Policy",
    "PolicyGate",
    "Rule",
    "Verdicts",
    "combine",
    "compile_policy",
    "load_policy",
    "missions_in",
    "policy_files",
]
