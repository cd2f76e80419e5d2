"""Deployment tooling: building the layer and function zips, and checking serverless.yml.

May import the schedule (to check timer crons) and the foundation. Never shipped in the SCF layer. This
face holds no logic.
"""
