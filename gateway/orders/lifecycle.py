"""The order lifecycle as one state machine: which status may follow which, and why not."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    PURCHASED = "purchased"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    UNASSIGNED = "unassigned"
    NEEDS_REVIEW = "needs_review"


S = Status

# from -> the statuses it may move to. assigned -> assigned is a hand-over to the next leader.
# assigned -> delivered is a pickup order collected at its point (or a run's order handed over
# at a stop); accepted -> confirmed is a run cancelled after its picking list went out (the
# order goes back to the dispatcher).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.DRAFT: frozenset({S.CONFIRMED, S.CANCELLED, S.NEEDS_REVIEW}),
    S.NEEDS_REVIEW: frozenset({S.DRAFT, S.CONFIRMED, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.ASSIGNED, S.UNASSIGNED, S.CANCELLED}),
    S.ASSIGNED: frozenset({S.ASSIGNED, S.ACCEPTED, S.UNASSIGNED, S.CONFIRMED, S.CANCELLED,
                           S.DELIVERED}),
    S.ACCEPTED: frozenset({S.PURCHASED, S.DELIVERED, S.ASSIGNED, S.UNASSIGNED, S.CANCELLED,
                           S.CONFIRMED}),
    S.PURCHASED: frozenset({S.DELIVERED, S.ASSIGNED, S.UNASSIGNED, S.CANCELLED}),
    S.UNASSIGNED: frozenset({S.ASSIGNED, S.CONFIRMED, S.CANCELLED}),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset(),
}

OPEN_FOR_LEADER = frozenset({S.ASSIGNED, S.ACCEPTED, S.PURCHASED})
FINAL = frozenset({S.DELIVERED, S.CANCELLED})


class IllegalTransition(ValueError):
    """A status change the lifecycle does not allow."""

    def __init__(self, current: str, target: str) -> None:
        self.current, self.target = current, target
        allowed = ", ".join(sorted(TRANSITIONS.get(Status(current), ()))) \
            if current in Status.__members__.values() else ""
        super().__init__(
            f"an order cannot go from {current!r} to {target!r}"
            + (f" (from {current!r} it may go to: {allowed})" if allowed else
               f" ({current!r} is final)" if current in FINAL else ""))


def parse_status(value: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise ValueError(f"unknown order status {value!r}; known: "
                         f"{', '.join(s.value for s in Status)}") from None


def can_move(current: str, target: str) -> bool:
    try:
        return Status(target) in TRANSITIONS[Status(current)]
    except ValueError:
        return False


def check(current: str, target: str) -> Status:
    """Return the target status if the move is legal; raise IllegalTransition otherwise."""
    target_s = parse_status(target)
    parse_status(current)
    if not can_move(current, target):
        raise IllegalTransition(current, target)
    return target_s
