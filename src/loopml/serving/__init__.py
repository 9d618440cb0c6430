"""Model serving: the inference server (Open Inference Protocol V2 and MLflow's routes)."""

from __future__ import annotations

from loopml.serving.app import ServingApp
from loopml.serving.models import ModelSet, load_served
from loopml.serving.runtime import ModelInput, ServedModel
from loopml.serving.server import ServeOptions, create_serving_app, serve

__all__ = [
    "ModelInput",
    "ModelSet",
    "ServeOptions",
    "ServedModel",
    "ServingApp",
    "create_serving_app",
    "load_served",
    "serve",
]
