"""A Python /compare service, as a team would write one beside the model: the yardstick for Part B.

POST /compare/{kind} with {"primary": <primary response>, "shadow": <shadow response>} (the two response
bodies as JSON values) answers {"similarity": x}. Scoring is bench/py_scoring.py's: rouge-score, numpy,
json. Run: python bench/py_compare_service.py --port 18310 (one uvicorn worker process: one core, like the
compare service on Envoy's main thread).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, HTTPException, Request  # noqa: E402

from py_scoring import rouge_texts  # noqa: E402

app = FastAPI()


@app.get("/healthz")
def healthz():
    return {"ok": True}


@app.post("/compare/{kind}")
async def compare(kind: str, request: Request):
    doc = json.loads(await request.body())
    primary, shadow = doc["primary"], doc["shadow"]
    if kind == "rouge_l":
        similarity = rouge_texts(primary["text"], shadow["text"])
    elif kind == "cosine":
        a = np.asarray(primary["embedding"], dtype=np.float64)
        b = np.asarray(shadow["embedding"], dtype=np.float64)
        similarity = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    elif kind == "exact":
        similarity = 1.0 if primary["label"] == shadow["label"] else 0.0
    else:
        raise HTTPException(status_code=404, detail=f"unknown kind {kind}")
    return {"similarity": similarity}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, workers=1)


if __name__ == "__main__":
    main()
