"""HTTP building blocks shared by the server's routes and the dashboard's: errors and JSON
responses, parameter parsing, the access surface a route needs, and the OpenAPI document.

Both :mod:`botmon.server` and :mod:`botmon.dashboard` depend on this package and neither on
the other's internals; :func:`botmon.server.app.create_app` composes their routes.
"""
