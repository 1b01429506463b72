"""The bridge's directory check trusts a found employee for a while, never an unknown one."""

from __future__ import annotations

from talentloop.service.bridge import directory_check


async def test_found_ids_are_trusted_for_the_ttl_then_asked_again() -> None:
    directory = {"E1": "Ada"}
    asked: list[str] = []
    now = [0.0]

    def lookup(employee_id: str) -> str | None:
        asked.append(employee_id)
        return directory.get(employee_id)

    check = directory_check(lookup, ttl=60.0, clock=lambda: now[0])
    assert await check("E1") and await check("E1")
    assert asked == ["E1"]  # the second answer came from the cache

    del directory["E1"]  # the employee left
    now[0] = 59.0
    assert await check("E1")
    now[0] = 61.0
    assert not await check("E1")  # refused once the cached answer expired
    assert not await check("E1")  # and not cached as known any more
    assert asked == ["E1", "E1", "E1"]


async def test_unknown_ids_are_asked_every_time_so_a_joiner_passes_at_once() -> None:
    directory: dict[str, str] = {}
    check = directory_check(directory.get, ttl=60.0, clock=lambda: 0.0)
    assert not await check("E2")
    directory["E2"] = "Grace"  # joined
    assert await check("E2")
