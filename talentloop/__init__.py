"""talentloop package."""
