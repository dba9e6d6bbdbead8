from __future__ import annotations

import subprocess
import sys


def test_control_imports_no_web_gevent_asyncio_or_worker_code():
    code = (
        "import sys, control.models, control.services.users, control.services.ring_groups, "
        "control.demo, control.db, control.effects\n"
        "import pkgutil, importlib, control\n"
        "for m in pkgutil.walk_packages(control.__path__, 'control.'):\n"
        "    if '.migrations' not in m.name: importlib.import_module(m.name)\n"
        "bad = [m for m in ('flask', 'gevent', 'greenswitch', 'panoramisk', 'rq.worker', 'web', 'worker', "
        "'esl_handlers') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
