"""``lmbench serve``: a web dashboard and JSON API over the results store.

Needs the ``[dashboard]`` extra (FastAPI, uvicorn, sse-starlette).
"""
