"""Events: frames of a watched source grouped by what they show.

Owns: taking frames from cameras and browser webcams through the intake while
leaving out near-duplicates (:mod:`.frames`, :mod:`.similarity`), grouping
classified frames into events (:mod:`.recording`), and reading events for
History, the dashboard timeline and the API (:mod:`.selectors`,
:mod:`.payloads`).
May import: ``classification.models``, ``classification.intake`` (the one
way in), ``classification.alerts`` (each counted frame may fire a rule),
``classification.serving.notifications`` and ``serving.payloads`` (pushes).
Never TensorFlow.
"""
