"""What one app instance holds, and typed access to it from request handlers.

``create_app`` builds these once and keeps them on ``app.state``; handlers get
them through the dependencies below instead of module globals, so two apps in
one process (as in tests) never share a database.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from loopml.artifacts import ArtifactStore
from loopml.core.errors import NotSupported
from loopml.tracking import TrackingClient


async def tracking_client(request: Request) -> TrackingClient:
    client = request.app.state.tracking
    assert isinstance(client, TrackingClient)
    return client


Tracking = Annotated[TrackingClient, Depends(tracking_client)]


async def artifact_store(request: Request) -> ArtifactStore:
    """The app's own artifact store, which the ``mlflow-artifacts`` proxy serves."""
    store = (await tracking_client(request)).artifacts
    if not isinstance(store, ArtifactStore):
        raise NotSupported(f"this server's artifacts live in {type(store).__name__}, not a store")
    return store


Artifacts = Annotated[ArtifactStore, Depends(artifact_store)]
