"""Reports: leaderboards, dashboards, exports for the books, certificates and the transparency page."""
