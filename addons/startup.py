"""mitmproxy's start-up error check, reporting the sidecar's way. mitmproxy's own ErrorCheck prints
the errors logged while starting (a listener that cannot bind, a CA it cannot load) in its own
format and exits with status 1; this one raises ConfigError, one line per error, which the CLI
reports like any configuration error (status 2)."""

from __future__ import annotations

import asyncio

from mitmproxy.addons import errorcheck

from sidecar.config import ConfigError


class StartupErrors(errorcheck.ErrorCheck):
    name = "errorcheck"  # Master.run looks the check up by this name

    async def shutdown_if_errored(self) -> None:
        await asyncio.sleep(0)  # as ErrorCheck does: let log records still on their way arrive
        if self.logger.has_errored:
            raise ConfigError([" ".join(r.getMessage().split()) for r in self.logger.has_errored])
