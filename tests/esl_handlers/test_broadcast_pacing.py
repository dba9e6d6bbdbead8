"""The Asterisk executor sends a broadcast's paced commands at least their spacing apart, however
bunched they arrive (a busy listener catching up must not exceed the tenant's rate)."""

from __future__ import annotations

import asyncio
import time

from esl_handlers.command_executor import AsteriskCommandExecutor


def test_paced_commands_go_out_spaced_unpaced_ones_at_once() -> None:
    async def scenario() -> list[float]:
        executor = AsteriskCommandExecutor("node", lambda: None, asyncio.Event())
        sent = []
        pace = {"pace": {"key": "broadcasts-1", "seconds": 0.05}}
        for _ in range(4):
            await executor._pace(pace)
            sent.append(time.monotonic())
        await executor._pace({"pace": {"key": "broadcasts-2", "seconds": 0.05}})
        other = time.monotonic() - sent[-1]
        await executor._pace({})
        assert other < 0.05, "another tenant's broadcast has its own pace"
        return sent

    sent = asyncio.run(scenario())
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert all(gap >= 0.049 for gap in gaps), gaps
