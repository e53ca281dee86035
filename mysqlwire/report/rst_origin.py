"""Did the endpoint send this RST, or did something on the path inject it?

A firewall, NAT or load balancer that resets a connection forges an RST in the endpoint's name,
but it sits a different number of hops from the capture point than the endpoint does, so the
RST arrives with an IP TTL (IPv6 hop limit) that none of that endpoint's real packets had. That
is the evidence we use. Window and flags are reported alongside because they often differ too
(injectors typically send window 0), but they are not decisive on their own: a Linux host's
own RST for a closed socket also carries window 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from capture.facts import ControlSegment, Direction, TcpFacts, reduce_by_fields


@dataclass(frozen=True, slots=True)
class RstOrigin:
    injected: bool
    explanation: str

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return reduce_by_fields(self)


def rst_origin(rst: ControlSegment, facts: TcpFacts) -> RstOrigin:
    sender = Direction(rst.direction).sender
    seen = facts.ttls[rst.direction]
    if not seen:
        return RstOrigin(False, f"no other packet from the {sender} to compare its TTL with")
    usual = max(seen, key=seen.__getitem__)
    flags = "RST+ACK" if rst.has_ack else "RST"
    if rst.ttl in seen:
        return RstOrigin(False, f"{flags} with TTL {rst.ttl}, as the {sender}'s other packets")
    return RstOrigin(
        True,
        f"{flags} in the {sender}'s name with TTL {rst.ttl} (window {rst.window}) while the "
        f"{sender}'s {sum(seen.values())} other packets arrive with TTL {usual} — reset by a "
        f"device between the hosts, not by the {sender}",
    )
