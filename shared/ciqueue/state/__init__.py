"""The state store: overrides people set and the decisions last carried out.

``document`` holds the shapes and the store interface and imports none of the backends; ``file`` and
``cos`` are the backends; ``location`` picks one from a location string or the environment. May
import ``ciqueue.schedule`` (for the engine's shapes), ``ciqueue.ci`` and the foundation. This face
holds no logic.
"""
