"""People of a community: enrolment by an admin, look-up, and one's own profile."""
