"""Notification mail: rendering and SMTP delivery."""
