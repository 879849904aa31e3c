"""The operator console: a Starlette app over the engine's output (docs/console.md).

Server side only here: users and sessions (`auth`), the live hub (`hub`), the audit log (`audit`), the
sources that feed the hub (`sources`: the embedded runner over a file, or Kafka) and the HTTP app (`app`).
The browser UI is in static/."""
