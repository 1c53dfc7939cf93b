-- Runs once, when the postgres-data volume is empty (/docker-entrypoint-initdb.d), as the
-- superuser POSTGRES_USER. Least privilege: the role `jobdeck` owns the app database, the
-- role `temporal` owns Temporal's persistence and visibility databases; neither is a
-- superuser and neither can connect to the other's databases.
--
-- Passwords come from the container's environment (psql \getenv, PostgreSQL 15+), never
-- from this file. The image runs this with ON_ERROR_STOP, so an unset variable leaves the
-- :'...' reference unexpanded, which is a syntax error that stops the init loudly.
\getenv app_password APP_DB_PASSWORD
\getenv temporal_password TEMPORAL_DB_PASSWORD

CREATE ROLE jobdeck LOGIN PASSWORD :'app_password';
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';

-- The app's tables and its job-event outbox (LISTEN/NOTIFY needs no extra grant).
CREATE DATABASE jobdeck OWNER jobdeck;
-- Temporal: the temporal-schema service installs and upgrades their schemas.
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;

REVOKE ALL ON DATABASE jobdeck FROM PUBLIC;
REVOKE ALL ON DATABASE temporal FROM PUBLIC;
REVOKE ALL ON DATABASE temporal_visibility FROM PUBLIC;
