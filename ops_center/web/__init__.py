"""The Dash server, sessions, login and the context the pages reach the services through."""
