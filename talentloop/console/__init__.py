"""The HR ops console: a server-rendered web app over the read model, with sign-in and roles.

`app.create_app` builds the Starlette application; `projection` keeps the read model current;
`auth` holds users, password hashing, roles and the sign-in throttle; `queries` answers the
pages from the read model and the app database's own tables.
"""
