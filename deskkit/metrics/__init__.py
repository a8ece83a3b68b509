"""Metrics: one module per desktop widget family, each a pure function of (store, filters)."""

from deskkit.metrics.pipeline_flow import PipelineFlow, pipeline_flow

__all__ = ("PipelineFlow", "pipeline_flow")
