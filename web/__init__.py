"""The LeiAn web app (Flask, 简体中文): search, case pages, dashboard, case libraries, ingest and accounts.

Start it with ``leian serve``; build it in code with
:func:`leian.web.app.create_app`. See docs/web.md.
"""
