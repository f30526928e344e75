"""riskops: a Risk Operations Platform (alerts, cases, runs, baselines, views, audit)."""

__version__ = "0.1.0"
