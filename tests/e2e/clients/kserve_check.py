"""Run by the kserve client's own virtual environment against a live ``loopml serve``.

Usage: ``python kserve_check.py BASE_URL MODEL_NAME``; prints one JSON object:
the health answers and the predictions for the rows below, through
``kserve.InferenceRESTClient`` (V2, as KServe's SDK sends it).
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]


async def main(base_url: str, model: str) -> dict[str, object]:
    client = InferenceRESTClient(RESTConfig(protocol="v2"))
    try:
        tensor = InferInput(name="x", shape=[3, 4], datatype="FP64")
        tensor.set_data_from_numpy(np.asarray(ROWS, dtype=np.float64), binary_data=False)
        request = InferRequest(model_name=model, infer_inputs=[tensor])
        response = await client.infer(base_url, request, model_name=model)
        binary = InferInput(name="x", shape=[3, 4], datatype="FP64")
        binary.set_data_from_numpy(np.asarray(ROWS, dtype=np.float64), binary_data=True)
        binary_request = InferRequest(model_name=model, infer_inputs=[binary])
        binary_response = await client.infer(base_url, binary_request, model_name=model)
        return {
            "live": await client.is_server_live(base_url),
            "ready": await client.is_server_ready(base_url),
            "model_ready": await client.is_model_ready(base_url, model),
            "predictions": response.outputs[0].as_numpy().tolist(),
            "binary_predictions": binary_response.outputs[0].as_numpy().tolist(),
        }
    finally:
        await client.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
