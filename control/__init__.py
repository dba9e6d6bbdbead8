"""Switchboard's domain: model, services and rendering. Imports no web, gevent or asyncio code."""
