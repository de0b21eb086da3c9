"""Maintenance tools of the course repository (run with ``python -m ctm_course.tools.<name>``)."""
