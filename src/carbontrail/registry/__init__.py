"""Model registry with carbon cards, deployment footprints and the committee-gated deployment workflow.

* :class:`Registry` — models, versions (lineage to spans, carbon cards), deployments, lifecycle.
* :func:`project` / :func:`what_if` — pure footprint projection (:mod:`carbontrail.registry.footprint`).
* :class:`Gate` — policy evaluation of deployment requests, approvals, vetoes, overrides, audit.
"""

from carbontrail.registry.committee import ROLES, STATUSES, Action, Gate, Request, committee_status
from carbontrail.registry.footprint import Embodied, Footprint, FootprintInputs, Term, ZoneIntensity, project, what_if
from carbontrail.registry.store import Deployment, DeploymentSpec, ModelVersion, Registry, carbon_card

__all__ = [
    "ROLES",
    "STATUSES",
    "Action",
    "Deployment",
    "DeploymentSpec",
    "Embodied",
    "Footprint",
    "FootprintInputs",
    "Gate",
    "ModelVersion",
    "Registry",
    "Request",
    "Term",
    "ZoneIntensity",
    "carbon_card",
    "committee_status",
    "project",
    "what_if",
]
