"""The web view: signed links, the city's page, feedback, the coordinators' view."""
