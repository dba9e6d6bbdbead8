"""Regenerate tests/golden/ from the current renderers: `python -m tests.render.regen_golden`.

Renders the golden tenant (tests/render/factories.py) in a throw-away SQLite database and
rewrites tests/golden/<kind>/; review the result with `git diff tests/golden`.
(`pytest tests/render/test_golden.py --regen-golden` does the same inside the test run.)
"""

from __future__ import annotations

import os
import sys
import tempfile


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="switchboard-golden-") as scratch:
        os.environ["SWITCHBOARD_DATA_DIR"] = scratch
        os.environ.setdefault("SWITCHBOARD_SECRET_KEY", "golden-secret-key-" + "x" * 32)
        os.environ["DATABASE_URL"] = f"sqlite:///{scratch}/golden.db"

        from control import config, db
        from control.migrate import upgrade
        from tests.render import golden_files
        from tests.render.factories import build_golden

        config.reset_settings()
        upgrade(os.environ["DATABASE_URL"])
        session = db.new_session(os.environ["DATABASE_URL"])
        try:
            golden = build_golden(session)
            session.commit()
            for kind, rendered in golden_files.render_golden(session, golden.tenant_id).items():
                golden_files.write(kind, rendered)
                print(f"tests/golden/{kind}: {len(rendered.files)} files, hash {rendered.content_hash}")
        finally:
            session.close()
            db.dispose_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
