"""Orders and what they are made of: the lifecycle (statuses, legal moves), status changes as
events with listeners, the catalogue's CSV and stored products, residents and leaders, and the
demo data. Works on a database session (db/); imports no channel or vendor module."""
