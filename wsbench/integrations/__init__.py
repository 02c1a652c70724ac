"""Integrations with other tools. ``wsbench.integrations.locust`` is the only module that imports locust or gevent."""
