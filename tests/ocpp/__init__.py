"""Tests of the OCPP head-end and the simulated OCPP charge points."""
