"""Cameras: watching cameras with nobody at a browser.

Owns: cameras' settings and credentials (:mod:`.credentials`, :mod:`.services`),
the leases that give each camera to exactly one capturer (:mod:`.leases`),
their health (:mod:`.health`), reading frames with PyAV (:mod:`.readers`),
one capture thread per camera (:mod:`.capture`) and the capture service that
runs them (:mod:`.service`, started by ``manage.py capture``).
May import: ``classification.models``, ``classification.events`` (every frame
goes through its intake), ``classification.serving.notifications`` (pushes to
dashboards). Never TensorFlow: the capture process has no model.
"""
