"""Process entry point for one FreeSWITCH node: ``python -m esl_handlers.freeswitch_main``.

gevent is patched here, first thing in ``main()``, and nowhere else: the listener module itself
can be imported (e.g. by tests of other modules) without patching the importing process.
Settings come as JSON on stdin (or ``--config FILE``); events go to ``--sink module:callable``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from gevent import monkey

    monkey.patch_all()

    from control.redis_conn import one_client_per_os_thread

    one_client_per_os_thread()

    import signal

    import gevent
    import gevent.event

    from esl_handlers.freeswitch_listener import run_freeswitch_listener
    from esl_handlers.listener_process import (
        configure_logging,
        load_config,
        load_sink_factory,
        parse_arguments,
        report_stats,
        share_the_interpreter,
    )
    from esl_handlers.listener_stats import ListenerStats

    args = parse_arguments("Listen to one FreeSWITCH node over inbound ESL.", argv)
    config = load_config(args.config)
    configure_logging(args.log_level, config.node)
    share_the_interpreter()
    sink_factory = load_sink_factory(args.sink)
    stop = gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    stats = ListenerStats()
    try:
        run_freeswitch_listener(config, sink_factory, stop=stop, stats=stats)
    finally:
        report_stats(stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
