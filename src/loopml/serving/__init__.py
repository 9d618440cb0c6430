"""Model serving: the inference server (Open Inference Protocol V2 and MLflow's routes)."""

from __future__ import annotations

from loopml.serving.app import ServingApp
from loopml.serving.endpoints import EndpointsClient
from loopml.serving.entities import EndpointConfig, EndpointVersion, Route
from loopml.serving.models import EndpointState, LiveEndpoint, load_served
from loopml.serving.runtime import ModelInput, ServedModel
from loopml.serving.server import ServeOptions, create_serving_app, serve

__all__ = [
    "EndpointConfig",
    "EndpointState",
    "EndpointVersion",
    "EndpointsClient",
    "LiveEndpoint",
    "ModelInput",
    "Route",
    "ServeOptions",
    "ServedModel",
    "ServingApp",
    "create_serving_app",
    "load_served",
    "serve",
]
