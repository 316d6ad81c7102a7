"""The order statuses are defined once in the lifecycle; the models' check constraint uses them."""

from __future__ import annotations

from db import models
from gateway.orders import lifecycle


def test_model_statuses_are_the_lifecycle_statuses() -> None:
    assert tuple(models.ORDER_STATUSES) == tuple(s.value for s in lifecycle.Status)


def test_every_status_has_a_transition_row() -> None:
    assert set(lifecycle.TRANSITIONS) == set(lifecycle.Status)
