"""Envelopes: one module per SCF trigger source, each turning a raw event into Records.

``base`` holds the Record and the validation every source shares; ``detect`` says which source an
event came from; each source module (``timer``, ``cos``, ``cmq``, ``ckafka``, ``cls``, ``apigw``,
``function_url``) reads its own event shape. May import ``ciqueue.ci`` and the foundation only.
This face holds no logic.
"""
