"""Layer 4: MLflow tracking of runs, steps, traces and costs, and comparing runs."""

from toolnexus.tracking.report import RunReport
from toolnexus.tracking.tracker import MlflowTracker, default_tracking_uri

__all__ = ["MlflowTracker", "RunReport", "default_tracking_uri"]
