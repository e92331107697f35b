"""The one lazy registry: each value made once, and a value may be made from another."""

from __future__ import annotations

import threading

from shared.once import OncePerKey


def test_a_value_made_from_another_value_of_the_registry() -> None:
    registry: OncePerKey[str, str] = OncePerKey()
    made: list[str] = []

    def channel() -> str:
        made.append("channel")
        return "channel"

    def method() -> str:
        made.append("method")
        return registry.get("channel", channel) + ".commit"

    answer: list[str] = []
    thread = threading.Thread(
        target=lambda: answer.append(registry.get("method", method)), daemon=True
    )
    thread.start()
    thread.join(5)
    assert answer == ["channel.commit"]  # no deadlock on the registry's own lock
    assert registry.get("method", method) == "channel.commit"
    assert made == ["method", "channel"]
