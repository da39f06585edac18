//! Which PostgreSQL server and database a store uses, to name them when a connection fails:
//! a database that does not exist says how to create it. Never the password.

use deadpool_postgres::PoolError;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;

use crate::store::StoreError;

pub struct Server {
    host: String,
    port: u16,
    user: String,
    dbname: String,
}

impl Server {
    pub fn of(config: &tokio_postgres::Config) -> Server {
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            #[cfg(unix)]
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_owned(),
        };
        let user = config.get_user().unwrap_or("postgres").to_owned();
        Server {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            dbname: config.get_dbname().unwrap_or(&user).to_owned(),
            user,
        }
    }

    /// A failed connection, in words.
    pub fn explain(&self, error: PoolError) -> StoreError {
        let Server {
            host,
            port,
            user,
            dbname,
        } = self;
        let PoolError::Backend(error) = error else {
            return StoreError::Unavailable(format!("PostgreSQL at {host}:{port}: {error}"));
        };
        let Some(db) = error.as_db_error() else {
            let cause = std::error::Error::source(&error)
                .map_or_else(|| error.to_string(), ToString::to_string);
            return StoreError::Unavailable(format!(
                "cannot reach PostgreSQL at {host}:{port}: {cause}"
            ));
        };
        let message = if *db.code() == SqlState::INVALID_CATALOG_NAME {
            format!(
                "database {dbname:?} does not exist on the PostgreSQL server at {host}:{port}: \
                 create it with `createdb -h {host} -p {port} -U {user} {dbname}`"
            )
        } else if matches!(
            *db.code(),
            SqlState::INVALID_PASSWORD | SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        ) {
            format!(
                "PostgreSQL at {host}:{port} refused user {user:?} on database {dbname:?}: {}",
                db.message()
            )
        } else {
            format!(
                "PostgreSQL at {host}:{port}, database {dbname:?}: {}",
                db.message()
            )
        };
        StoreError::Unavailable(message)
    }
}
