"""Project-wide pytest settings."""
import os

import pytest


def pytest_sessionfinish(session, exitstatus):
    # Under CI nothing may skip: a skipped test there means a tool CI must install is missing.
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reasons = sorted({str(r.longrepr[-1]) if isinstance(r.longrepr, tuple) else str(r.longrepr)
                          for r in skipped})
        reporter.write_line(f"CI=true: {len(skipped)} test(s) skipped, which CI does not allow:", red=True)
        for reason in reasons:
            reporter.write_line(f"  {reason}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
