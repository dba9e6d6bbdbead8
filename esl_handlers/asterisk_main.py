"""Process entry point for one Asterisk node: ``python -m esl_handlers.asterisk_main``.

Plain asyncio, no gevent. Settings come as JSON on stdin (or ``--config FILE``); events go to
``--sink module:callable``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence

from esl_handlers.asterisk_listener import run_asterisk_listener
from esl_handlers.listener_config import ListenerConfig
from esl_handlers.listener_process import (
    configure_logging,
    load_config,
    load_sink_factory,
    parse_arguments,
    report_stats,
    share_the_interpreter,
)
from esl_handlers.listener_stats import ListenerStats


async def _run(config: ListenerConfig, sink_spec: str, stats: ListenerStats) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run_asterisk_listener(config, load_sink_factory(sink_spec), stop=stop, stats=stats)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments("Listen to one Asterisk node over AMI.", argv)
    config = load_config(args.config)
    configure_logging(args.log_level, config.node)
    share_the_interpreter()
    stats = ListenerStats()
    try:
        asyncio.run(_run(config, args.sink, stats))
    finally:
        report_stats(stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
