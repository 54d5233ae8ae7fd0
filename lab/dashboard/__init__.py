"""`galera-lab dashboard`: a live web view of a running lab, with fault buttons.

state.py (pure: status + history → JSON), sse.py (event-stream framing), catalog.py (the fault
buttons over chaos/faults.py), probes.py (a light stale-read client), service.py (threads that
poll the lab, run the clients, inject and heal), app.py (Starlette routes, uvicorn serving),
static/ (the page: plain SVG and canvas, nothing from a CDN).
"""
