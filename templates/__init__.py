"""The jinja2 email templates: HTML and plain text, one folder per locale.

Shipped as package data, so that an installed talentloop finds them.
"""
