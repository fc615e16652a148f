"""The REST API under /api/v1/ (Django REST framework): a web-side room.

Owns: the API's views, serializers (shape only), permissions, throttles, its
one error shape and the OpenAPI pieces.
May import: the service and selector rooms, ``classification.models``; never
TensorFlow or Celery.
"""
