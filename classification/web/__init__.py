"""Web: the pages, the files they show, the probes, and the websocket consumers.

Owns: views (thin: parse, call a service or selector, render), image and
thumbnail responses, health/readiness/metrics endpoints, websocket consumers
and their routing, URLs, the template context processor.
May import: the service rooms and ``classification.models``; never TensorFlow.
"""
