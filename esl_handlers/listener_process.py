"""Shared plumbing of the listener process entry points (stdlib only: the FreeSWITCH entry
point imports this after gevent has patched, the Asterisk one under plain asyncio)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from esl_handlers.listener_config import ListenerConfig

DEFAULT_SINK = "esl_handlers.jsonl_sink:stdout_sink"

#: One process per node, each with its own concurrency model (gevent and asyncio never mix).
ENTRY_POINTS = {
    "freeswitch": "esl_handlers.freeswitch_main",
    "asterisk": "esl_handlers.asterisk_main",
}


def spawn_listener(
    config: ListenerConfig,
    *,
    sink: str = DEFAULT_SINK,
    log_level: str = "INFO",
    **popen: Any,
) -> subprocess.Popen:
    """Start the listener process for one node; its settings (secret included) go over stdin,
    never on the command line. ``popen`` is passed to :class:`subprocess.Popen` (stdout, cwd...)."""
    command = [sys.executable, "-m", ENTRY_POINTS[config.pbx], "--sink", sink, "--log-level", log_level]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, **popen)
    assert process.stdin is not None
    process.stdin.write(json.dumps(config.to_mapping()).encode())
    process.stdin.close()
    return process


def parse_arguments(description: str, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--config",
        default="-",
        help="JSON listener settings (ListenerConfig fields); '-' reads stdin so the secret never "
        "appears on a command line",
    )
    parser.add_argument("--sink", default=DEFAULT_SINK, help="sink factory as module:callable")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def load_config(source: str) -> ListenerConfig:
    if source == "-":
        data: Any = json.load(sys.stdin)
    else:
        with open(source, encoding="utf-8") as handle:
            data = json.load(handle)
    return ListenerConfig.from_mapping(data)


def load_sink_factory(spec: str) -> Callable[[ListenerConfig], Any]:
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"sink must be module:callable, got {spec!r}")
    factory = getattr(importlib.import_module(module_name), attribute)
    if not callable(factory):
        raise ValueError(f"{spec} is not callable")
    return factory


#: Seconds a thread holding the GIL runs before another may take it (Python's default: 0.005).
#: The listener's threads take turns: the sink records events (CPU-heavy ORM batches) while the
#: command executor's claim and send each wait for the GIL after their I/O; with the default,
#: every such hand-over may wait 5 ms behind the sink, a command several of them.
SWITCH_INTERVAL = 0.0005


def share_the_interpreter() -> None:
    """Short GIL turns, so a command's steps never queue behind the sink's batches."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def configure_logging(level: str, node: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s [{node}] %(name)s: %(message)s",
    )


def report_stats(stats: Any) -> None:
    """Final counters as one JSON line on stderr."""
    sys.stderr.write(json.dumps({"stats": stats.as_dict()}) + "\n")
    sys.stderr.flush()
