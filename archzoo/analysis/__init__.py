"""The design analyzer: seed 003's per-layer table for any model, as data and as reports.

`analyze(model_or_name, input_size=..., batch=1, dtype=..., convention="default"|"lecture",
optimizer="adam")` returns a `Report` with one row per layer (shapes, kernel geometry, params,
MACs and every other op by kind, parameter and feature-map memory, receptive field) and totals
(params, MACs, memory, a training-peak estimate). `receptive_field(model, input_size, layer=None)`
gives seed 003's receptive field at any layer; `empirical_receptive_field` measures it by gradients.
"""
from ._analyze import analyze, parse_input_size
from ._empirical import empirical_receptive_field, receptive_field
from ._memory import measure_training_peak
from ._rf import ReceptiveField
from ._trace import LayerError
from .report import LayerRow, Report

__all__ = ["LayerError", "LayerRow", "ReceptiveField", "Report", "analyze",
           "empirical_receptive_field", "measure_training_peak", "parse_input_size",
           "receptive_field"]
